/**
 * The example plugins built with the AssemblyScript SDK: the normalize step
 * in a pipeline with narrow grants, the checksum store as an artifact store
 * component, and a rebuild from source that must match the committed .wasm.
 */
import assert from "node:assert/strict";
import { Pipeline, step } from "../../mod.ts";
import { getComponentRegistry } from "../../kernel/registry.ts";
import type { ArtifactStore } from "../../kernel/artifact_store.ts";
import {
  closePluginHosts,
  configurePlugins,
  formatAudit,
  pluginStep,
} from "../../kernel/sandbox/mod.ts";
import { sha256Hex } from "../../kernel/hash.ts";
import { tempStack } from "./_fixtures.ts";
import { requireService, tempDir } from "../_helpers.ts";

const ROOT = new URL("../../examples/plugins/", import.meta.url).pathname;

Deno.test("normalize plugin: a WASM step with narrow grants, audited", async () => {
  const t = await tempDir();
  const stack = await tempStack(t.path);
  try {
    const bytes = await Deno.readFile(`${ROOT}normalize/normalize.wasm`);
    configurePlugins({
      normalize: {
        source: `${ROOT}normalize/normalize.wasm`,
        sha256: sha256Hex(bytes),
        op: "normalize",
        grants: {
          artifacts: { read: ["datasets/*"], write: ["features/*"] },
          net: [],
          env: [],
          memory: "16Mi",
          timeout: "10s",
        },
      },
    });
    const raw = Float64Array.from({ length: 100_000 }, (_, i) => (i % 100) * 2 + 10);
    const p = new Pipeline("norm", { stack })
      .add(step({ name: "load", outputs: ["raw"] }, () => raw))
      .add(pluginStep("normalize", { inputs: ["raw"], outputs: ["features"] }));
    const r = await p.run();
    assert.equal(r.status, "completed", r.error?.message ?? "");
    const f = r.outputs.features as Float64Array;
    assert.ok(f instanceof Float64Array);
    assert.equal(f.length, raw.length);
    const mean = f.reduce((a, b) => a + b, 0) / f.length;
    const sd = Math.sqrt(f.reduce((a, b) => a + (b - mean) ** 2, 0) / f.length);
    assert.ok(Math.abs(mean) < 1e-9, `mean ${mean}`);
    assert.ok(Math.abs(sd - 1) < 1e-9, `sd ${sd}`);
    // Min-max mode through step config.
    const p2 = new Pipeline("norm2", { stack })
      .add(step({ name: "load", outputs: ["raw"] }, () => raw))
      .add(
        pluginStep("normalize", {
          inputs: ["raw"],
          outputs: ["features"],
          config: { mode: "minmax" },
        }),
      );
    const r2 = await p2.run();
    const f2 = r2.outputs.features as Float64Array;
    assert.equal(Math.min(...f2), 0);
    assert.equal(Math.max(...f2), 1);
    const audit = await stack.metadataStore.listAudit(r.runId);
    assert.deepEqual(audit.map((e) => [e.actor, e.op, e.allowed]), [["normalize", "log", true], [
      "normalize",
      "call",
      true,
    ]]);
    const text = formatAudit(audit);
    assert.match(text, /normalize\s+allowed\s+call\s+normalize/);
    assert.match(text, /2 brokered call\(s\) by normalize: 2 allowed, 0 denied/);
  } finally {
    await closePluginHosts();
    await stack.close();
    await t.cleanup();
  }
});

Deno.test("checksum_store plugin: a WASM artifact store component that detects corruption", async () => {
  const t = await tempDir();
  try {
    const bytes = await Deno.readFile(`${ROOT}checksum_store/checksum_store.wasm`);
    configurePlugins({
      checksum_store: {
        source: `${ROOT}checksum_store/checksum_store.wasm`,
        sha256: sha256Hex(bytes),
        grants: { artifacts: { read: ["**"], write: ["**"] }, memory: "16Mi" },
      },
    });
    const store = await getComponentRegistry().create<ArtifactStore>("artifact_store", "wasm", {
      plugin: "checksum_store",
      inner: { type: "local", path: `${t.path}/inner` },
    });
    const data = new Uint8Array(3 * 1024 * 1024 + 17);
    for (let o = 0; o < data.length; o += 65536) {
      crypto.getRandomValues(data.subarray(o, o + 65536));
    }
    await store.writeBytes("objects/ab/x", data);
    assert.deepEqual(await store.readBytes("objects/ab/x"), data);
    assert.equal(await store.exists("objects/ab/x"), true);
    // The inner object is framed: 16-byte header + payload.
    const inner = await Deno.readFile(`${t.path}/inner/objects/ab/x`);
    assert.equal(inner.length, data.length + 16);
    inner[1000] ^= 0xff;
    await Deno.writeFile(`${t.path}/inner/objects/ab/x`, inner);
    await assert.rejects(
      store.readBytes("objects/ab/x"),
      /plugin "checksum_store" .*checksum mismatch: objects\/ab\/x is corrupted/,
    );
    // Works as a pipeline's artifact store too (save/load through the registry's serializers).
    await store.save({ a: [1, 2, 3] }, "runs/one.json");
    assert.deepEqual(await store.load("runs/one.json"), { a: [1, 2, 3] });
  } finally {
    await closePluginHosts();
    await t.cleanup();
  }
});

Deno.test("example plugins rebuild from source to the committed .wasm", async () => {
  let asc = false;
  try {
    await import("assemblyscript/asc");
    asc = true;
  } catch {
    asc = false;
  }
  if (
    !requireService(
      "AssemblyScript (npm:assemblyscript)",
      asc,
      "deno install (npm registry) or .ci/install_services.sh",
    )
  ) return;
  const { buildPlugin, EXAMPLES } = await import("../../sdk/build_plugins.ts");
  for (const name of EXAMPLES) {
    const built = await buildPlugin(`${ROOT}${name}`);
    const committed = await Deno.readFile(`${ROOT}${name}/${name}.wasm`);
    assert.equal(
      sha256Hex(built),
      sha256Hex(committed),
      `${name}.wasm differs from its source: run deno task build:plugins`,
    );
  }
});

Deno.test("plugin inspect and URL loading: downloads are cached by hash", async () => {
  const { inspectPlugin, formatPluginReport } = await import("../../cli/commands/plugin.ts");
  const { loadPlugin, parsePluginConfig, clearCompiledPlugins } = await import(
    "../../kernel/sandbox/mod.ts"
  );
  const bytes = await Deno.readFile(`${ROOT}checksum_store/checksum_store.wasm`);
  const report = inspectPlugin("checksum_store.wasm", bytes);
  assert.equal(report.manifest.kind, "artifact_store");
  assert.deepEqual(report.manifest.ops, ["write", "read"]);
  assert.equal(report.sha256, sha256Hex(bytes));
  assert.equal(report.refused, undefined);
  assert.match(
    formatPluginReport(report),
    /kind\s+artifact_store[\s\S]*requested capabilities:[\s\S]*sha256: [0-9a-f]{64}/,
  );
  let hits = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    hits++;
    return new Response(bytes);
  });
  const t = await tempDir();
  try {
    const url = `http://127.0.0.1:${server.addr.port}/checksum_store.wasm`;
    const cfg = parsePluginConfig("cs", { source: url, sha256: sha256Hex(bytes) });
    const a = await loadPlugin("cs", cfg, { cacheDir: t.path });
    clearCompiledPlugins();
    const b = await loadPlugin("cs", cfg, { cacheDir: t.path });
    assert.equal(a.sha256, b.sha256);
    assert.equal(hits, 1, "the second load must come from the cache by hash");
  } finally {
    await server.shutdown();
    await t.cleanup();
  }
});
