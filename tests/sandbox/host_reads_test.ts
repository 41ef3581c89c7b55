/**
 * Extism's own host reads (issue 9, "Grants mean exactly what they say"):
 * `config_get` sees own config keys only, and every read — found or not —
 * reaches the run's audit trail in the metadata store.
 * @module
 */
import assert from "node:assert/strict";
import { closePluginHosts, invokePlugin, parsePluginConfig } from "../../kernel/sandbox/mod.ts";
import { pluginEntry, tempStack, wat, watString } from "./_fixtures.ts";
import { tempDir } from "../_helpers.ts";

const KEYS = ["mode", "__proto__", "constructor", "toString", "missing"];

/**
 * Calls Extism's `config_get` for each key; the output is one digit per key:
 * 1 when the host returned a value, 0 when it did not.
 */
function configProbeWat(): string {
  let data = "";
  let off = 0;
  const probes: string[] = [];
  KEYS.forEach((k, i) => {
    const len = new TextEncoder().encode(k).length;
    data += ` (data (i32.const ${off}) "${watString(k)}")`;
    probes.push(`
    (local.set $blk (call $alloc (i64.const ${len})))
    (local.set $j (i32.const 0))
    (block $d${i} (loop $l${i}
      (br_if $d${i} (i32.ge_u (local.get $j) (i32.const ${len})))
      (call $store_u8 (i64.add (local.get $blk) (i64.extend_i32_u (local.get $j)))
        (i32.load8_u (i32.add (i32.const ${off}) (local.get $j))))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $l${i})))
    (i32.store8 (i32.const ${1024 + i})
      (select (i32.const 49) (i32.const 48)
        (i64.ne (call $config_get (local.get $blk)) (i64.const 0))))`);
    off += len + 8;
  });
  return `(module
 (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
 (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
 (import "extism:host/env" "config_get" (func $config_get (param i64) (result i64)))
 (import "extism:host/user" "flowyml_output" (func $output (param i32 i32)))
 (memory (export "memory") 1)
 ${data}
 (func (export "run") (result i32) (local $blk i64) (local $j i32)
  ${probes.join("\n")}
  (call $output (i32.const 1024) (i32.const ${KEYS.length}))
  (i32.const 0)))`;
}

Deno.test("Extism config_get: own keys only, and every read is audited under the run", async () => {
  const dir = await tempDir();
  const stack = await tempStack(dir.path);
  try {
    const bytes = await wat(configProbeWat());
    const entry = await pluginEntry(dir.path, "probe", bytes, { config: { mode: "fast" } });
    const config = parsePluginConfig("probe", entry);
    // The output is one digit per key: "10000" (a JSON number) when only "mode" was found.
    const r = await invokePlugin("probe", "run", { input: {}, runId: "run-reads", stack, config });
    assert.equal(r.json, 10000, "only the own key 'mode' may be visible to config_get");
    const audit = await stack.metadataStore.listAudit("run-reads");
    const reads = audit.filter((e) => e.op === "extism.config_get");
    const seen = reads.map((e) => [e.resource, e.detail !== "not set"]).sort();
    assert.deepEqual(seen, [
      ["__proto__", false],
      ["constructor", false],
      ["missing", false],
      ["mode", true],
      ["toString", false],
    ]);
  } finally {
    await closePluginHosts();
    await stack.close();
    await dir.cleanup();
  }
});
