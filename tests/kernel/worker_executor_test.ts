import assert from "node:assert/strict";
import { loadValue, type Pipeline } from "../../mod.ts";
import { tempStack } from "./_stack.ts";

const workerStack = () => tempStack({ workers: 2 });

Deno.test("worker executor: CPU-bound steps run on worker threads, params tracked, errors carried", async () => {
  const { stack, cleanup } = await workerStack();
  try {
    const mod = await import("../fixtures/cpu_pipeline.ts");
    const p: Pipeline = mod.default;
    const r = await p.run({ stack, params: { n: 2_000_000, unused: 1 } });
    assert.equal(r.status, "completed", r.error?.message ?? "");
    const parts = await Promise.all(
      [0, 1, 2, 3].map((i) =>
        loadValue(stack.artifactStore, r.steps[`part${i}`].outputs[`part${i}`])
      ),
    );
    const threads = new Set(parts.map((v) => (v as { thread: string }).thread));
    assert.ok(threads.size >= 2, `parts ran on ${threads.size} distinct worker(s)`);
    assert.ok(!threads.has("main"));
    assert.equal(typeof r.outputs.total, "number");
    const again = await p.run({ stack, params: { n: 2_000_000, unused: 2 } });
    assert.equal(again.steps.part0.cached, true, "unread param does not invalidate");
    const changed = await p.run({ stack, params: { n: 1_000, unused: 2 } });
    assert.equal(changed.steps.part0.cached, false, "read param tracked through the worker");
    const failing = await mod.failing.run({ stack });
    assert.equal(failing.status, "failed");
    assert.match(failing.error!.message, /step "explode" failed: exploded in a worker/);
  } finally {
    await cleanup();
  }
});
