// Runs the built template plugin as a pipeline step in the sandbox.
import assert from "node:assert/strict";
import { buildStack, parseConfig, Pipeline, step } from "../../../mod.ts";
import { closePluginHosts, configurePlugins, pluginStep } from "../../../kernel/sandbox/mod.ts";
import { sha256Hex } from "../../../kernel/hash.ts";

Deno.test("template plugin doubles bytes", async () => {
  const dir = await Deno.makeTempDir();
  const wasm = new URL("../template.wasm", import.meta.url).pathname;
  const bytes = await Deno.readFile(wasm);
  configurePlugins({ template: { source: wasm, sha256: sha256Hex(bytes), op: "run" } });
  const stack = await buildStack(
    parseConfig(
      `stacks:\n  t:\n    artifact_store: { type: local, path: ${dir}/a }\n    metadata_store: { type: sqlite, path: ${dir}/m.db }\n`,
    ),
    "t",
  );
  try {
    const r = await new Pipeline("tpl", { stack })
      .add(step({ name: "load", outputs: ["raw"] }, () => new Uint8Array([1, 2, 3])))
      .add(pluginStep("template", { inputs: ["raw"], outputs: ["out"] }))
      .run();
    assert.equal(r.status, "completed", r.error?.message ?? "");
    assert.deepEqual([...(r.outputs.out as Uint8Array)], [2, 4, 6]);
  } finally {
    await closePluginHosts();
    await stack.close();
    await Deno.remove(dir, { recursive: true });
  }
});
