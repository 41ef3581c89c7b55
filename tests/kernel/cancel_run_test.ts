/** `cancelRun` of an engine-driven orchestrator (here: local): the run ends `cancelled`. */
import assert from "node:assert/strict";
import { Pipeline, step } from "../../mod.ts";
import { tempStack } from "./_stack.ts";

Deno.test("EngineOrchestrator.cancelRun: the running step is aborted, the run recorded cancelled", async () => {
  const { stack, cleanup } = await tempStack();
  try {
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const p = new Pipeline("cancel-me")
      .add(step({ name: "slow", outputs: ["x"] }, (_i, ctx) => {
        started();
        return new Promise((_, reject) => {
          const t = setTimeout(() => reject(new Error("not cancelled")), 30_000);
          ctx.signal!.addEventListener("abort", () => {
            clearTimeout(t);
            reject(ctx.signal!.reason);
          });
        });
      }))
      .add(step({ name: "after", inputs: ["x"], outputs: ["y"] }, ({ x }) => x));
    const o = stack.orchestrator;
    const runId = await o.runPipeline(p, { stack, onEvent: () => {} });
    await running;
    await o.cancelRun(runId);
    const res = await o.waitForRun(runId);
    assert.equal(res.status, "cancelled");
    assert.match(
      res.error!.message,
      /run cancelled \(cancelRun\(\) was called\) while step "slow"/,
    );
    assert.equal((await stack.metadataStore.getRun(runId))!.status, "cancelled");
    const steps = new Map((await stack.metadataStore.listStepRuns(runId)).map((r) => [r.step, r]));
    assert.equal(steps.get("slow")!.status, "cancelled");
    assert.equal(steps.get("after")!.status, "skipped");
    await assert.rejects(o.cancelRun("not-a-run"), /run not-a-run was not started by this process/);
  } finally {
    await cleanup();
  }
});
