/**
 * In-place handles (`flowyml_take`, `flowyml_write_at`) and the broker's
 * hand-checked fast path: both must refuse what they did not grant or what is
 * malformed, exactly like the slow paths.
 * @module
 */
import assert from "node:assert/strict";
import { closePluginHosts, invokePlugin, parsePluginConfig } from "../../kernel/sandbox/mod.ts";
import { Broker } from "../../kernel/sandbox/broker.ts";
import { pluginEntry, wat } from "./_fixtures.ts";

const TAKE = `
 (import "extism:host/user" "flowyml_take" (func $take (param i32) (result i32)))
 (import "extism:host/user" "flowyml_write_at" (func $write_at (param i32 i64 i32 i32) (result i32)))
 (memory (export "memory") 1)
 (data (i32.const 0) "ABCD")`;

/** A plugin whose `run` does `body` (WAT instructions) and returns 0. */
async function plugin(dir: string, name: string, body: string, grants = {}) {
  const bytes = await wat(
    `(module ${TAKE} (func (export "run") (result i32) ${body} (i32.const 0)))`,
  );
  return parsePluginConfig(name, await pluginEntry(dir, name, bytes, grants));
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "flowyml-handles-" });
  try {
    await fn(dir);
  } finally {
    await closePluginHosts();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("take + write_at transform an input handle in place and return it", async () => {
  await withDir(async (dir) => {
    const config = await plugin(
      dir,
      "inplace",
      `(drop (call $write_at (call $take (i32.const 1)) (i64.const 2) (i32.const 0) (i32.const 4)))`,
    );
    const input = new TextEncoder().encode("0123456789").buffer;
    const res = await invokePlugin("inplace", "run", {
      input: {},
      runId: "r",
      config,
      inputs: [input],
    });
    assert.equal(input.byteLength, 0, "the input buffer was transferred, not copied");
    assert.deepEqual(Object.keys(res.handles), ["1"]);
    // Overwrote 2..6, and extended nothing.
    assert.equal(new TextDecoder().decode(res.handles[1]), "01ABCD6789");
  });
});

Deno.test("write_at refuses read-only handles, gaps and sizes past max_output", async () => {
  await withDir(async (dir) => {
    const cases: [string, string, Record<string, unknown>, RegExp][] = [
      [
        "readonly",
        `(drop (call $write_at (i32.const 1) (i64.const 0) (i32.const 0) (i32.const 4)))`,
        {},
        /plugin "readonly" sent a malformed protocol message: handle 1 is read-only/,
      ],
      [
        "gap",
        `(drop (call $write_at (call $take (i32.const 1)) (i64.const 11) (i32.const 0) (i32.const 4)))`,
        {},
        /plugin "gap" sent a malformed protocol message: write at 11\+4 is outside handle 1/,
      ],
      [
        "bigtake",
        `(drop (call $take (i32.const 1)))`,
        { max_output: 4 },
        /plugin "bigtake" sent an oversized message: output exceeds max_output of 4 bytes/,
      ],
      [
        "grow",
        `(drop (call $write_at (call $take (i32.const 1)) (i64.const 10) (i32.const 0) (i32.const 4)))`,
        { max_output: 12 },
        /plugin "grow" sent an oversized message: output exceeds max_output of 12 bytes/,
      ],
    ];
    for (const [name, body, grants, re] of cases) {
      const config = await plugin(dir, name, body, grants);
      const inputs = [new TextEncoder().encode("0123456789").buffer];
      await assert.rejects(
        invokePlugin(name, "run", { input: {}, runId: "r", config, inputs }),
        re,
      );
    }
    // Growing within max_output works and appends.
    const ok = await plugin(
      dir,
      "append",
      `(drop (call $write_at (call $take (i32.const 1)) (i64.const 10) (i32.const 0) (i32.const 4)))`,
    );
    const inputs = [new TextEncoder().encode("0123456789").buffer];
    const res = await invokePlugin("append", "run", { input: {}, runId: "r", config: ok, inputs });
    assert.equal(new TextDecoder().decode(res.handles[1]), "0123456789ABCD");
  });
});

Deno.test("broker fast path refuses wrongly typed fields like the schema does", async () => {
  const grants = parsePluginConfig("p", {
    source: "p.wasm",
    grants: { config: { k: "v" }, artifacts: { write: ["out/*"] } },
  }).grants;
  const b = new Broker({ plugin: "p", grants, runId: "r" });
  const send = async (
    req: unknown,
  ) => (await b.handle(new TextEncoder().encode(JSON.stringify(req)), new Uint8Array(0)));
  const ok = await send({ v: 1, op: "config.get", key: "k" });
  assert.deepEqual(ok.json, { ok: true, value: "v" });
  const denied = await send({ v: 1, op: "config.get", key: "other" });
  assert.equal((denied.json.error as { code: string }).code, "denied");
  for (
    const bad of [
      { v: 1, op: "config.get", key: 5 },
      { v: 1, op: "config.get" },
      { v: 1, op: "artifacts.put", path: "out/x", handle: -1 },
      { v: 1, op: "artifacts.put", path: "out/x", handle: 1.5 },
      { v: 1, op: "log", message: "hi", level: null },
      { v: 2, op: "config.get", key: "k" },
      { v: 1, op: "__proto__" },
      [1, 2],
    ]
  ) {
    const r = await send(bad);
    assert.equal(r.fatal, true, `accepted ${JSON.stringify(bad)}`);
    assert.equal((r.json.error as { code: string }).code, "malformed");
  }
  assert.ok(b.events.every((e) => e.actor === "p"));
  assert.equal(b.events.filter((e) => !e.allowed).length, 9);
});
