import assert from "node:assert/strict";
import { Pipeline, PipelineDefinitionError, step, StepFailedError } from "../../mod.ts";
import { tempStack } from "./_stack.ts";

Deno.test("wiring: single and multiple outputs, params, result fields", async () => {
  const { stack, cleanup } = await tempStack();
  try {
    const load = step(
      { name: "load", outputs: ["rows"] },
      () => Array.from({ length: 150 }, (_, i) => i),
    );
    const split = step(
      { name: "split", inputs: ["rows"], outputs: ["train", "test"] },
      ({ rows }) => ({ train: rows.slice(0, 100), test: rows.slice(100) }),
    );
    const fit = step(
      { name: "fit", inputs: ["train"], outputs: ["model"] },
      ({ train }, ctx) => ({ n: train.length, lr: ctx.params.lr }),
    );
    const result = await new Pipeline("iris", { stack }).add(load).addStep(split).add(fit)
      .run({ params: { lr: 0.1 } });
    assert.equal(result.status, "completed");
    assert.deepEqual(result.outputs.model, { n: 100, lr: 0.1 });
    assert.equal((result.outputs.test as number[]).length, 50);
    assert.equal(result.steps.fit.cached, false);
    assert.ok(result.steps.fit.durationMs >= 0);
    assert.match(result.runId, /^iris-/);
    const run = await stack.metadataStore.getRun(result.runId);
    assert.equal(run?.status, "completed");
    assert.deepEqual(run?.params, { lr: 0.1 });
  } finally {
    await cleanup();
  }
});

Deno.test("definition errors name the steps involved", () => {
  const a = step({ name: "a", outputs: ["x"] }, () => 1);
  const needsY = step({ name: "b", inputs: ["y"], outputs: ["z"] }, () => 1);
  assert.throws(() => new Pipeline("p").add(a).add(needsY).build(), (e: Error) => {
    assert.ok(e instanceof PipelineDefinitionError);
    assert.match(e.message, /step "b" needs input "y", which no step produces/);
    return true;
  });
  const a2 = step({ name: "a2", outputs: ["x"] }, () => 2);
  assert.throws(
    () => new Pipeline("p").add(a).add(a2).build(),
    /output "x" is produced by both "a" and "a2"/,
  );
  const c1 = step({ name: "c1", inputs: ["q"], outputs: ["p"] }, () => 1);
  const c2 = step({ name: "c2", inputs: ["p"], outputs: ["q"] }, () => 1);
  assert.throws(() => new Pipeline("p").add(c1).add(c2).build(), /steps "c1", "c2" form a cycle/);
  assert.throws(
    () => new Pipeline("p").add(a).add(step({ name: "a", outputs: ["w"] }, () => 1)),
    /two steps are named "a"/,
  );
  assert.throws(() => step({ name: "" } as never, () => 1), /name is required/);
});

Deno.test("failure: run failed, downstream skipped, completed outputs kept, independent branch continues", async () => {
  const { stack, cleanup } = await tempStack();
  try {
    const src = step({ name: "src", outputs: ["x"] }, () => 21);
    const bad = step({ name: "bad", inputs: ["x"], outputs: ["y"] }, () => {
      throw new RangeError("boom in bad");
    });
    const after = step({ name: "after", inputs: ["y"], outputs: ["z"] }, () => 1);
    const other = step({ name: "other", inputs: ["x"], outputs: ["w"] }, ({ x }) => x * 2);
    const r = await new Pipeline("fail", { stack }).add(src).add(bad).add(after).add(other).run();
    assert.equal(r.status, "failed");
    assert.ok(r.error instanceof StepFailedError);
    assert.equal((r.error as StepFailedError).step, "bad");
    assert.match(r.error!.message, /step "bad" failed: boom in bad/);
    assert.ok((r.error!.cause as Error) instanceof RangeError);
    assert.equal(r.steps.after.status, "skipped");
    assert.equal(r.steps.other.status, "completed");
    assert.equal(r.outputs.w, 42);
    const recorded = await stack.metadataStore.listStepRuns(r.runId);
    const byStep = Object.fromEntries(recorded.map((s) => [s.step, s]));
    assert.equal(byStep.src.status, "completed");
    assert.equal(byStep.bad.status, "failed");
    assert.match(byStep.bad.error!, /boom in bad/);
    assert.match(byStep.bad.errorStack!, /RangeError/);
    assert.equal(byStep.after.status, "skipped");
    const arts = await stack.metadataStore.listArtifacts(r.runId);
    assert.deepEqual(arts.map((a) => a.name).sort(), ["w", "x"]);
    assert.equal((await stack.metadataStore.getRun(r.runId))?.status, "failed");
  } finally {
    await cleanup();
  }
});

Deno.test("retries: a flaky step succeeds on a later attempt", async () => {
  const { stack, cleanup } = await tempStack();
  try {
    let calls = 0;
    const flaky = step({ name: "flaky", outputs: ["v"], retries: 2, retryDelayMs: 5 }, () => {
      calls++;
      if (calls < 3) throw new Error(`transient ${calls}`);
      return calls;
    });
    const r = await new Pipeline("retry", { stack }).add(flaky).run();
    assert.equal(r.status, "completed");
    assert.equal(r.outputs.v, 3);
    assert.equal(r.steps.flaky.attempts, 3);
    const never = step({ name: "never", outputs: ["v"], retries: 1, retryDelayMs: 1 }, () => {
      throw new Error("always");
    });
    const r2 = await new Pipeline("retry2", { stack }).add(never).run();
    assert.equal(r2.status, "failed");
    assert.equal(r2.steps.never.attempts, 2);
    assert.match(r2.error!.message, /after 2 attempts: always/);
  } finally {
    await cleanup();
  }
});

Deno.test("timeouts: a step past timeoutMs fails and sees its signal aborted", async () => {
  const { stack, cleanup } = await tempStack();
  try {
    let aborted = false;
    const slow = step({ name: "slow", outputs: ["v"], timeoutMs: 50 }, async (_, ctx) => {
      ctx.signal.addEventListener("abort", () => (aborted = true));
      await new Promise((r) => setTimeout(r, 400));
      return 1;
    });
    const r = await new Pipeline("timeout", { stack }).add(slow).run();
    assert.equal(r.status, "failed");
    assert.match(r.error!.message, /timed out after 50 ms/);
    assert.ok(aborted);
    await new Promise((r) => setTimeout(r, 400));
  } finally {
    await cleanup();
  }
});

Deno.test("fan-out 1 → 20 → 1 runs independent steps concurrently, bounded", async () => {
  const { stack, cleanup } = await tempStack();
  try {
    let running = 0;
    let peak = 0;
    const p = new Pipeline("fan", { stack, concurrency: 8, cache: false });
    p.add(step({ name: "root", outputs: ["seed"] }, () => 1));
    for (let i = 0; i < 20; i++) {
      p.add(step({ name: `w${i}`, inputs: ["seed"], outputs: [`o${i}`] }, async ({ seed }) => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 20));
        running--;
        return seed + i;
      }));
    }
    p.add(step(
      { name: "join", inputs: Array.from({ length: 20 }, (_, i) => `o${i}`), outputs: ["sum"] },
      (ins: Record<string, number>) => Object.values(ins).reduce((a, b) => a + b, 0),
    ));
    const r = await p.run();
    assert.equal(r.status, "completed");
    assert.equal(r.outputs.sum, 20 + 190);
    assert.equal(peak, 8, "concurrency reaches but does not pass the bound");
  } finally {
    await cleanup();
  }
});

Deno.test("loadOutputs: false leaves values computed elsewhere in the store", async () => {
  const { stack, cleanup } = await tempStack();
  try {
    const p = new Pipeline("lazy", { stack }).add(step({ name: "a", outputs: ["x"] }, () => 41));
    await p.run();
    const cached = await p.run({ loadOutputs: false });
    assert.equal(cached.steps.a.cached, true);
    assert.equal("x" in cached.outputs, false, "a cache hit's value is not read back");
    const loaded = await p.run();
    assert.equal(loaded.outputs.x, 41, "by default final outputs are loaded");
  } finally {
    await cleanup();
  }
});

Deno.test("metrics: steps log them, a cache hit shows the original's, bad values fail clearly", async () => {
  const { stack, cleanup } = await tempStack();
  try {
    const p = () =>
      new Pipeline("metrics", { stack }).add(
        step({ name: "fit", outputs: ["m"] }, (_, ctx) => {
          ctx.logMetrics({ accuracy: 0.9, loss: 0.25 });
          return 1;
        }),
      );
    const r1 = await p().run();
    const m1 = await stack.metadataStore.listMetrics({ runId: r1.runId });
    assert.deepEqual(m1.map((m) => [m.step, m.name, m.value]), [["fit", "accuracy", 0.9], [
      "fit",
      "loss",
      0.25,
    ]]);
    const r2 = await p().run();
    assert.equal(r2.steps.fit.cached, true);
    const m2 = await stack.metadataStore.listMetrics({ runId: r2.runId });
    assert.deepEqual(m2.map((m) => m.value), [0.9, 0.25], "cache hit carries the metrics");
    const bad = await new Pipeline("bad_metric", { stack }).add(
      step({ name: "nan", outputs: ["x"] }, (_, ctx) => {
        ctx.logMetrics({ loss: Number.NaN });
        return 1;
      }),
    ).run();
    assert.equal(bad.status, "failed");
    assert.match(bad.error!.message, /metric "loss" must be a finite number/);
  } finally {
    await cleanup();
  }
});
