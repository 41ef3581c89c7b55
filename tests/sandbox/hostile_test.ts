/**
 * Hostile plugins: each row of the sandbox's hostile table, run as a real
 * pipeline on a local stack in a temp folder. In every case the kernel
 * survives, the error names the plugin and the violation, nothing partial is
 * recorded complete, and the next run works.
 */
import assert from "node:assert/strict";
import { Pipeline, type Stack, step } from "../../mod.ts";
import {
  configurePlugins,
  loadPlugin,
  parsePluginConfig,
  pluginHost,
  pluginStep,
  PluginViolationError,
  resolvePluginConfig,
} from "../../kernel/sandbox/mod.ts";
import {
  echoWat,
  IMPORTS,
  pluginEntry,
  processCpuSeconds,
  requestsWat,
  rssBytes,
  type StackCtx as Ctx,
  wat,
  watString,
  withTempStack,
} from "./_fixtures.ts";
import { freePort, tempDir } from "../_helpers.ts";

const RAW = new Uint8Array([5, 6, 7, 8]);

const withStack = (fn: (c: Ctx) => Promise<void>) => withTempStack("flowyml-sandbox-", fn);

function pipeline(stack: Stack, plugin: string, name = plugin) {
  return new Pipeline(`p_${name}`, { stack, cache: false })
    .add(step({ name: "load", outputs: ["raw"] }, () => RAW))
    .add(pluginStep(plugin, { name: "plug", inputs: ["raw"], outputs: ["out"] }));
}

/** Run a hostile plugin and check the failure, then prove the next run works. */
async function expectContained(
  c: Ctx,
  name: string,
  bytes: Uint8Array,
  grants: Record<string, unknown>,
  violation: RegExp,
): Promise<string> {
  configurePlugins({
    [name]: await pluginEntry(c.dir, name, bytes, grants),
    echo_ok: await pluginEntry(c.dir, "echo_ok", await wat(echoWat())),
  });
  const r = await pipeline(c.stack, name).run();
  assert.equal(r.status, "failed");
  const msg = r.error!.message;
  assert.match(msg, new RegExp(`plugin "${name}"`), msg);
  assert.match(msg, violation, msg);
  assert.ok(r.error!.cause instanceof PluginViolationError);
  // Nothing from the failed step is recorded as an artifact.
  const arts = await c.stack.metadataStore.listArtifacts(r.runId);
  assert.deepEqual(arts.map((a) => a.step), ["load"]);
  const steps = await c.stack.metadataStore.listStepRuns(r.runId);
  assert.equal(steps.find((s) => s.step === "plug")?.status, "failed");
  // The call's failure is in the audit trail.
  const audit = await c.stack.metadataStore.listAudit(r.runId);
  assert.ok(audit.some((e) => e.actor === name && !e.allowed), JSON.stringify(audit));
  // The kernel is fine: the next run with a good plugin works.
  const ok = await pipeline(c.stack, "echo_ok").run();
  assert.equal(ok.status, "completed", ok.error?.message ?? "");
  assert.deepEqual([...(ok.outputs.out as Uint8Array)], [...RAW]);
  return msg;
}

const LOOP = `(module ${IMPORTS} (memory (export "memory") 1)
  (func (export "run") (result i32) (local $i i32)
    (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $l)) (i32.const 0)))`;

Deno.test("infinite loop: stopped at its timeout; CPU idle within 1 s, even after 5 kills", async () => {
  await withStack(async (c) => {
    const bytes = await wat(LOOP);
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      await expectContained(c, "spinner", bytes, { timeout: "300ms" }, /stopped at its timeout/);
      assert.ok(performance.now() - t0 < 5000);
    }
    // The cooperative interrupt stopped every loop: no worker had to be terminated.
    const host = await pluginHost("spinner", await resolvePluginConfig("spinner"));
    assert.equal(host.terminations, 0);
    // Within 1 s of the last stop, the process is idle: no thread left spinning.
    await new Promise((r) => setTimeout(r, 300));
    const cpu0 = processCpuSeconds();
    const w0 = performance.now();
    await new Promise((r) => setTimeout(r, 600));
    const used = processCpuSeconds() - cpu0;
    const wall = (performance.now() - w0) / 1000;
    // A single spinning thread would use ~1 CPU-second per second.
    assert.ok(
      used / wall < 0.25,
      `process used ${used}s CPU in ${wall.toFixed(2)}s after the kills`,
    );
  });
});

Deno.test("memory bomb: stopped at its cap; kernel RSS bounded", async () => {
  await withStack(async (c) => {
    const bomb = await wat(`(module ${IMPORTS} (memory (export "memory") 1)
      (func (export "run") (result i32)
        (loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
        unreachable))`);
    const before = rssBytes();
    await expectContained(c, "bomb", bomb, { memory: "32Mi" }, /hit its memory cap/);
    const grown = rssBytes() - before;
    assert.ok(grown < 256 * 1024 ** 2, `RSS grew by ${(grown / 2 ** 20).toFixed(0)} MiB`);
  });
});

Deno.test("trap, stack overflow and abort are contained", async () => {
  await withStack(async (c) => {
    await expectContained(
      c,
      "trapper",
      await wat(`(module ${IMPORTS} (memory (export "memory") 1)
      (func (export "run") (result i32) unreachable))`),
      {},
      /trapped: .*unreachable/,
    );
    await expectContained(
      c,
      "deep",
      await wat(`(module ${IMPORTS} (memory (export "memory") 1)
      (func $r (param i32) (result i32) (call $r (i32.add (local.get 0) (i32.const 1))))
      (func (export "run") (result i32) (call $r (i32.const 0))))`),
      {},
      /trapped: stack overflow/,
    );
    await expectContained(
      c,
      "aborter",
      await wat(`(module
      (import "env" "abort" (func $abort (param i32 i32 i32 i32)))
      (memory (export "memory") 1)
      (func (export "run") (result i32) (call $abort (i32.const 0) (i32.const 0) (i32.const 7) (i32.const 3)) (i32.const 0)))`),
      {},
      /trapped: abort: .*:7:3/,
    );
  });
});

Deno.test("artifact reads and writes outside the grant are denied and audited", async () => {
  await withStack(async (c) => {
    await c.stack.artifactStore.writeBytes(
      "datasets/iris.csv",
      new TextEncoder().encode("a,b\n1,2\n"),
    );
    await c.stack.artifactStore.writeBytes("secrets/key", new TextEncoder().encode("hunter2"));
    const grants = { artifacts: { read: ["datasets/*"], write: ["features/*"] } };
    // Allowed read first, then a denied one.
    const msg = await expectContained(
      c,
      "snoop",
      await wat(requestsWat([
        '{"v":1,"op":"artifacts.get","path":"datasets/iris.csv"}',
        '{"v":1,"op":"artifacts.get","path":"secrets/key"}',
      ])),
      grants,
      /was denied: artifacts.get secrets\/key: not granted/,
    );
    assert.doesNotMatch(msg, /hunter2/);
    await expectContained(
      c,
      "escape",
      await wat(requestsWat([
        '{"v":1,"op":"artifacts.get","path":"datasets/../secrets/key"}',
      ])),
      grants,
      /was denied: artifacts.get .*\.\. segment/,
    );
    await expectContained(
      c,
      "scribble",
      await wat(requestsWat([
        '{"v":1,"op":"artifacts.put","path":"models/evil.bin","handle":1}',
      ])),
      grants,
      /was denied: artifacts.put models\/evil.bin/,
    );
    assert.equal(await c.stack.artifactStore.exists("models/evil.bin"), false);
    // The audit trail shows the allowed read and the denied one.
    const runs = await c.stack.metadataStore.listRuns({ pipeline: "p_snoop" });
    const audit = await c.stack.metadataStore.listAudit(runs[0].runId);
    const reads = audit.filter((e) => e.op === "artifacts.get").map((e) => [e.resource, e.allowed]);
    assert.deepEqual(reads, [["datasets/iris.csv", true], ["secrets/key", false]]);
  });
});

Deno.test("HTTP to a host not granted is denied; the server is never contacted", async () => {
  let hits = 0;
  const port = freePort();
  const server = Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, () => {
    hits++;
    return new Response("pong");
  });
  try {
    await withStack(async (c) => {
      const req = `{"v":1,"op":"http.fetch","url":"http://127.0.0.1:${port}/x"}`;
      await expectContained(c, "phone_home", await wat(requestsWat([req])), {
        net: ["example.com"],
      }, /was denied: http.fetch 127.0.0.1:\d+: host not granted/);
      assert.equal(hits, 0);
      // Granted: the same request goes through the kernel.
      configurePlugins({
        fetcher: await pluginEntry(c.dir, "fetcher", await wat(requestsWat([req])), {
          net: [`127.0.0.1:${port}`],
        }),
      });
      const r = await pipeline(c.stack, "fetcher").run();
      assert.equal(r.status, "completed", r.error?.message ?? "");
      assert.equal(hits, 1);
      assert.match(r.outputs.out as string, /"status":200/);
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("env vars and secrets not granted are denied", async () => {
  Deno.env.set("FLOWYML_TEST_SECRET", "s3cr3t");
  await withStack(async (c) => {
    await expectContained(
      c,
      "env_reader",
      await wat(requestsWat(['{"v":1,"op":"env.get","name":"FLOWYML_TEST_SECRET"}'])),
      { env: ["HOME"] },
      /was denied: env.get FLOWYML_TEST_SECRET/,
    );
    await expectContained(
      c,
      "secret_reader",
      await wat(requestsWat(['{"v":1,"op":"secrets.get","name":"FLOWYML_TEST_SECRET"}'])),
      {},
      /was denied: secrets.get FLOWYML_TEST_SECRET/,
    );
    // A granted secret comes back as an opaque handle, never the value.
    configurePlugins({
      sec_ok: await pluginEntry(
        c.dir,
        "sec_ok",
        await wat(requestsWat(['{"v":1,"op":"secrets.get","name":"FLOWYML_TEST_SECRET"}'])),
        { secrets: ["FLOWYML_TEST_SECRET"] },
      ),
    });
    const r = await pipeline(c.stack, "sec_ok").run();
    assert.equal(r.status, "completed", r.error?.message ?? "");
    assert.match(r.outputs.out as string, /"secret":"secret:/);
    assert.doesNotMatch(r.outputs.out as string, /s3cr3t/);
  });
  Deno.env.delete("FLOWYML_TEST_SECRET");
});

Deno.test("oversized output and oversized message are refused", async () => {
  await withStack(async (c) => {
    // Writes 1 MiB chunks forever into one output handle.
    await expectContained(
      c,
      "flood",
      await wat(`(module ${IMPORTS} (memory (export "memory") 20)
      (func (export "run") (result i32) (local $h i32)
        (local.set $h (call $create (i64.const 0)))
        (loop $l (drop (call $write (local.get $h) (i32.const 0) (i32.const 1048576))) (br $l))
        (i32.const 0)))`),
      { max_output: "8Mi" },
      /oversized message: output exceeds max_output/,
    );
    await expectContained(
      c,
      "shouter",
      await wat(`(module ${IMPORTS} (memory (export "memory") 40)
      (func (export "run") (result i32) (drop (call $call (i32.const 0) (i32.const 2000000))) (i32.const 0)))`),
      { max_message: "1Mi" },
      /oversized message: request of 2000000 bytes exceeds max_message/,
    );
  });
});

Deno.test("malformed and truncated protocol messages are refused", async () => {
  await withStack(async (c) => {
    await expectContained(
      c,
      "garbler",
      await wat(requestsWat(['{"v":1,"op":"artifacts.get","pa'])),
      {},
      /malformed protocol message: request is not valid JSON/,
    );
    await expectContained(
      c,
      "wrongver",
      await wat(requestsWat(['{"v":99,"op":"log","message":"hi"}'])),
      {},
      /malformed protocol message: protocol version 99/,
    );
    await expectContained(
      c,
      "badptr",
      await wat(`(module ${IMPORTS} (memory (export "memory") 1)
      (func (export "run") (result i32) (drop (call $call (i32.const 65000) (i32.const 1000))) (i32.const 0)))`),
      {},
      /malformed protocol message: pointer range/,
    );
  });
});

Deno.test("unknown host import is refused before instantiation", async () => {
  const t = await tempDir();
  try {
    const bytes = await wat(
      `(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1) (func (export "run") (result i32) (i32.const 0)))`,
    );
    const cfg = parsePluginConfig("sneaky", await pluginEntry(t.path, "sneaky", bytes));
    await assert.rejects(loadPlugin("sneaky", cfg, { cacheDir: t.path }), (e: Error) => {
      assert.ok(e instanceof PluginViolationError);
      assert.match(
        e.message,
        /plugin "sneaky" imports a host function that is not allowed: function import "wasi_snapshot_preview1" "fd_write"/,
      );
      return true;
    });
  } finally {
    await t.cleanup();
  }
});

Deno.test("wrong sha256 is refused before compilation and names both hashes", async () => {
  await withStack(async (c) => {
    const good = await wat(echoWat());
    const entry = await pluginEntry(c.dir, "pinned", good);
    const wrong = "0".repeat(64);
    const msg = await expectContained(
      c,
      "pinned",
      good,
      {},
      /failed its integrity check: sha256 mismatch/,
    ).catch(() => "");
    assert.equal(msg, ""); // the correct pin works (expectContained fails on success)
    configurePlugins({ tampered: { ...entry, sha256: wrong } });
    const r = await pipeline(c.stack, "tampered").run();
    assert.equal(r.status, "failed");
    assert.match(
      r.error!.message,
      new RegExp(
        `plugin "tampered" failed its integrity check: .*pins ${wrong} but the file has ${entry.sha256}; refused before compilation`,
      ),
    );
  });
});

const REQ = '{"v":1,"op":"config.get","key":"k"}';
const OUT = '{"outputs":{"out":{"json":1}}}';

Deno.test("1,000 brokered calls in a row: memory stays flat", async () => {
  await withStack(async (c) => {
    const bytes = await wat(`(module ${IMPORTS} (memory (export "memory") 2)
      (data (i32.const 0) "${watString(REQ)}")
      (data (i32.const 1024) "${watString(OUT)}")
      (func (export "run") (result i32) (local $i i32)
        (loop $l
          (drop (call $call (i32.const 0) (i32.const ${REQ.length})))
          (call $response (i32.const 4096))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 1000))))
        (call $output (i32.const 1024) (i32.const ${OUT.length}))
        (i32.const 0)))`);
    configurePlugins({ chatty: await pluginEntry(c.dir, "chatty", bytes, { config: { k: "v" } }) });
    const p = () =>
      new Pipeline("chatty", { stack: c.stack, cache: false })
        .add(pluginStep("chatty", { name: "plug", outputs: ["out"] }));
    for (let i = 0; i < 3; i++) {
      const w = await p().run();
      assert.equal(w.status, "completed", w.error?.message ?? "");
    }
    const before = rssBytes();
    let last;
    for (let i = 0; i < 5; i++) last = await p().run();
    assert.equal(last!.status, "completed", last!.error?.message ?? "");
    assert.equal(last!.outputs.out, 1);
    const audit = await c.stack.metadataStore.listAudit(last!.runId);
    // Rows past the per-call cap are aggregated into one summary row that counts them.
    const rows = audit.filter((e) => e.op === "config.get" && e.allowed);
    const counted = rows.reduce(
      (n, e) => n + Number(/^aggregated: (\d+)/.exec(e.detail ?? "")?.[1] ?? 1),
      0,
    );
    assert.equal(counted, 1000);
    assert.ok(rows.length <= 201, `${rows.length} rows`);
    const grown = rssBytes() - before;
    assert.ok(
      grown < 64 * 1024 ** 2,
      `RSS grew ${(grown / 2 ** 20).toFixed(1)} MiB over 5,000 calls`,
    );
  });
});
