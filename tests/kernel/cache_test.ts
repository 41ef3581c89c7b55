import assert from "node:assert/strict";
import { Pipeline, step } from "../../mod.ts";
import { tempStack } from "./_stack.ts";

function counted() {
  const calls: Record<string, number> = {};
  const hit = (n: string) => (calls[n] = (calls[n] ?? 0) + 1);
  return { calls, hit };
}

Deno.test("cache: changing a param re-runs only the steps that read it", async () => {
  const { stack, cleanup } = await tempStack();
  try {
    const { calls, hit } = counted();
    const build = () =>
      new Pipeline("params", { stack })
        .add(step({ name: "load", outputs: ["rows"] }, () => (hit("load"), [1, 2, 3])))
        .add(step({ name: "fit", inputs: ["rows"], outputs: ["model"] }, ({ rows }, ctx) => {
          hit("fit");
          return rows.length * (ctx.params.lr as number);
        }))
        .add(
          step(
            { name: "report", inputs: ["rows"], outputs: ["n"] },
            ({ rows }) => (hit("report"), rows.length),
          ),
        );
    const r1 = await build().run({ params: { lr: 0.1, unrelated: 1 } });
    assert.equal(r1.outputs.model, 0.30000000000000004);
    const r2 = await build().run({ params: { lr: 0.5, unrelated: 1 } });
    assert.equal(r2.outputs.model, 1.5, "new param value gives a new result");
    assert.equal(r2.steps.fit.cached, false);
    assert.equal(r2.steps.load.cached, true);
    assert.equal(r2.steps.report.cached, true);
    const r3 = await build().run({ params: { lr: 0.5, unrelated: 2 } });
    assert.equal(r3.steps.fit.cached, true, "a param the step never read does not invalidate it");
    assert.deepEqual(calls, { load: 1, fit: 2, report: 1 });
    // Enumerating params counts as reading all of them.
    const spread = () =>
      new Pipeline("spread", { stack }).add(
        step({ name: "all", outputs: ["p"] }, (_, ctx) => ({ ...ctx.params })),
      );
    await spread().run({ params: { a: 1 } });
    const s2 = await spread().run({ params: { a: 1, b: 2 } });
    assert.equal(s2.steps.all.cached, false);
    assert.deepEqual(s2.outputs.p, { a: 1, b: 2 });
  } finally {
    await cleanup();
  }
});

Deno.test("cache: changing upstream data re-runs downstream steps", async () => {
  const { stack, cleanup } = await tempStack();
  try {
    const { calls, hit } = counted();
    let data = [1, 2, 3];
    const build = () =>
      new Pipeline("upstream", { stack })
        // load is uncached (reads an external source); its output hash drives downstream keys.
        .add(step({ name: "load", outputs: ["rows"], cache: false }, () => (hit("load"), data)))
        .add(step({ name: "sum", inputs: ["rows"], outputs: ["total"] }, ({ rows }) => {
          hit("sum");
          return rows.reduce((a: number, b: number) => a + b, 0);
        }));
    assert.equal((await build().run()).outputs.total, 6);
    const same = await build().run();
    assert.equal(same.steps.sum.cached, true);
    data = [1, 2, 3, 4];
    const changed = await build().run();
    assert.equal(changed.steps.sum.cached, false);
    assert.equal(changed.outputs.total, 10);
    assert.deepEqual(calls, { load: 3, sum: 2 });
  } finally {
    await cleanup();
  }
});

Deno.test("cache: deleting the stored artifact forces a re-run; code change re-runs; cache:false and run({cache:false})", async () => {
  const { stack, cleanup } = await tempStack({ inlineMaxBytes: 0 });
  try {
    const { calls, hit } = counted();
    const mk = (k: number) =>
      new Pipeline("del", { stack }).add(
        step({ name: "make", outputs: ["v"] }, () => (hit("make"), { k })),
      );
    const r1 = await mk(1).run();
    const ref = r1.steps.make.outputs.v;
    assert.equal((await mk(1).run()).steps.make.cached, true);
    await stack.artifactStore.delete(ref.path);
    const r3 = await mk(1).run();
    assert.equal(r3.steps.make.cached, false, "missing artifact is not a cache hit");
    assert.ok(await stack.artifactStore.exists(ref.path), "re-run restored the artifact");
    const r4 = await mk(1).run({ cache: false });
    assert.equal(r4.steps.make.cached, false);
    assert.equal(calls.make, 3);
    // Different code (a different step function) is a different key.
    const other = new Pipeline("del", { stack }).add(
      step({ name: "make", outputs: ["v"] }, () => ({ k: 2 })),
    );
    assert.equal((await other.run()).steps.make.cached, false);
    // The hit is recorded in metadata.
    const again = await mk(1).run();
    const rec = (await stack.metadataStore.listStepRuns(again.runId))[0];
    assert.equal(rec.cached, true);
    assert.equal(rec.status, "cached");
  } finally {
    await cleanup();
  }
});
