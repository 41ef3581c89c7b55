/**
 * Run params are recorded as JSON (runs show, runs resume, queue workers and
 * remote orchestrators read them there): a param JSON cannot give back
 * unchanged is refused before the run is recorded, with an error naming it and
 * what to pass instead; JSON data runs as before.
 */
import assert from "node:assert/strict";
import { ConfigError, Pipeline, step } from "../../mod.ts";
import { checkParams } from "../../kernel/params.ts";
import { tempStack } from "./_stack.ts";

class Model {
  constructor(readonly w: number) {}
}

const REFUSED: [string, unknown, RegExp][] = [
  ["Infinity", Infinity, /"p" is Infinity, .*JSON turns it into null/],
  ["NaN", NaN, /"p" is NaN/],
  ["-0", -0, /"p" is -0, .*JSON turns it into 0/],
  ["a bigint", 5n, /"p" is 5n \(a bigint\).*JSON cannot write it/],
  ["a Date", new Date(0), /"p" is a Date/],
  ["a Map", new Map([["a", 1]]), /"p" is a Map/],
  ["a class instance", new Model(1), /"p" is a Model/],
  ["a function", () => 1, /"p" is a function.*JSON drops it/],
  ["NaN deep in an object", { a: [1, { b: NaN }] }, /"p" is an object holding a value JSON/],
  ["Infinity in an array", [1, Infinity], /"p" is an array holding a value JSON changes/],
];

Deno.test("checkParams: refuses each value JSON cannot give back, naming it; hint says what to pass", () => {
  for (const [what, value, message] of REFUSED) {
    let err: unknown;
    try {
      checkParams({ ok: 1, p: value });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof ConfigError, `${what}: ${err}`);
    assert.match(err.message, message, what);
    assert.match(err.hint ?? "", /JSON data/, what);
  }
  assert.throws(() => checkParams(["lr"]), /must be an object of names to values/);
  const fine = { s: "x", n: 0.1, big: 1e300, b: true, z: null, a: [1, "2"], o: { k: [{}] } };
  checkParams(fine);
  checkParams({ absent: undefined });
  checkParams(undefined);
});

Deno.test("pipeline.run: a param JSON cannot record fails the call and records no run", async () => {
  const { stack, cleanup } = await tempStack();
  try {
    const p = new Pipeline("params", { stack })
      .add(step({ name: "echo", outputs: ["v"] }, (_i, ctx) => ctx.params.v));
    await assert.rejects(p.run({ params: { v: 10n } }), ConfigError);
    assert.deepEqual(await stack.metadataStore.listRuns({ pipeline: "params" }), []);
    const r = await p.run({ params: { v: { deep: [1, "two", null] } } });
    assert.equal(r.status, "completed", String(r.error));
    assert.deepEqual(r.outputs.v, { deep: [1, "two", null] });
    const [run] = await stack.metadataStore.listRuns({ pipeline: "params" });
    assert.deepEqual(run.params, { v: { deep: [1, "two", null] } }, "recorded exactly");
  } finally {
    await cleanup();
  }
});

Deno.test("pipeline.run: a param repeating one object (Array(n).fill) runs, and a re-run is a hit", async () => {
  const { stack, cleanup } = await tempStack();
  try {
    // JSON gives this back equal (two copies of the object): nothing a worker would see differs.
    const layers = new Array(3).fill({ units: 64 });
    const p = () =>
      new Pipeline("shared", { stack })
        .add(step({ name: "sum", outputs: ["n"] }, (_i, ctx) =>
          (ctx.params.layers as { units: number }[]).reduce((s, l) =>
            s + l.units, 0)));
    const r1 = await p().run({ params: { layers } });
    assert.equal(r1.status, "completed", String(r1.error));
    assert.equal(r1.outputs.n, 192);
    const r2 = await p().run({ params: { layers } });
    assert.equal(r2.steps.sum.cached, true, "the same params: a cache hit");
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    assert.throws(() => checkParams({ c: cyclic }), /"c" is an object .*JSON cannot write it/);
  } finally {
    await cleanup();
  }
});
