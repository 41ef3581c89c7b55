/** A sandboxed plugin logging metrics through the broker: recorded with its step when granted. */
import assert from "node:assert/strict";
import { Pipeline, step } from "../../mod.ts";
import { closePluginHosts, configurePlugins, pluginStep } from "../../kernel/sandbox/mod.ts";
import { pluginEntry, requestsWat, tempStack, wat } from "./_fixtures.ts";
import { tempDir } from "../_helpers.ts";

Deno.test("metadata.log: a granted plugin's metrics are recorded with its step; ungranted is denied", async () => {
  const t = await tempDir("flowyml-sandbox-");
  const stack = await tempStack(t.path);
  try {
    const bytes = await wat(requestsWat([
      '{"v":1,"op":"metadata.log","metrics":{"rows_scanned":4,"null_ratio":0.25}}',
    ]));
    configurePlugins({
      profiler: await pluginEntry(t.path, "profiler", bytes, { metadata: true }),
      mute: await pluginEntry(t.path, "mute", bytes, {}),
    });
    const run = (plugin: string) =>
      new Pipeline(`m_${plugin}`, { stack, cache: false })
        .add(step({ name: "load", outputs: ["raw"] }, () => new Uint8Array([1, 2, 3, 4])))
        .add(pluginStep(plugin, { name: "profile", inputs: ["raw"], outputs: ["out"] }))
        .run();
    const ok = await run("profiler");
    assert.equal(ok.status, "completed", ok.error?.message ?? "");
    const metrics = await stack.metadataStore.listMetrics({ runId: ok.runId });
    assert.deepEqual(
      metrics.map((m) => [m.step, m.name, m.value]),
      [["profile", "rows_scanned", 4], ["profile", "null_ratio", 0.25]],
    );
    const denied = await run("mute");
    assert.equal(denied.status, "failed");
    assert.match(denied.error!.message, /plugin "mute" was denied: metadata.log/);
    assert.deepEqual(await stack.metadataStore.listMetrics({ runId: denied.runId }), []);
  } finally {
    await closePluginHosts();
    await stack.close();
    await t.cleanup();
  }
});
