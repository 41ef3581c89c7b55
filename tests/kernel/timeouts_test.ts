/**
 * Issue 10, case 5: a step over its timeout is recorded failed (timeout),
 * never completed, and never cached: on the default in-process executor
 * (which cannot pre-empt synchronous code, and says so) and on the worker
 * executor (which really stops the step: its Worker is terminated).
 */
import assert from "node:assert/strict";
import { tempDir } from "../_helpers.ts";
import { flowyml, showRun } from "./_cli.ts";
import {
  LocalArtifactStore,
  LocalOrchestrator,
  type Pipeline,
  SQLiteMetadataStore,
  Stack,
  WorkerExecutor,
} from "../../mod.ts";

const SPIN = `
import { Pipeline, step } from "flowyml";
const spin = step({ name: "spin", outputs: ["n"], timeoutMs: 300 }, () => {
  const end = Date.now() + 1500;
  let n = 0;
  while (Date.now() < end) n++;
  return n > 0;
});
export default new Pipeline("timeouts").add(spin);
`;

Deno.test("timeouts (CLI, local executor): a CPU-bound step past timeoutMs fails, is not cached", async () => {
  const t = await tempDir();
  try {
    await Deno.writeTextFile(`${t.path}/pipeline.ts`, SPIN);
    for (let i = 0; i < 2; i++) {
      const r = await flowyml(t.path, ["run", "pipeline.ts"]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /status failed/);
      const runId = /run\s+(timeouts-\S+)/.exec(r.stdout)![1];
      const shown = await showRun(t.path, runId);
      assert.equal(shown.run.status, "failed");
      const [s] = shown.steps;
      assert.equal(s.status, "failed", "never completed");
      assert.equal(s.cached, false, "never served from the cache");
      assert.match(s.error ?? "", /step "spin" timed out after 300 ms/);
      assert.match(s.error ?? "", /cannot pre-empt synchronous code/);
      assert.match(s.error ?? "", /executor: \{ type: worker \}/);
    }
  } finally {
    await t.cleanup();
  }
});

Deno.test("timeouts (worker executor): the step is failed at its timeout and its Worker stopped", async () => {
  const t = await tempDir();
  const stack = new Stack("workers", {
    orchestrator: new LocalOrchestrator(),
    executor: new WorkerExecutor({ workers: 1 }),
    artifactStore: new LocalArtifactStore({ path: `${t.path}/artifacts` }),
    metadataStore: new SQLiteMetadataStore({ path: `${t.path}/metadata.db` }),
  });
  try {
    const counter = `${t.path}/counter.txt`;
    // The step never ends on its own: it counts, writing the count to a file as it goes.
    await Deno.writeTextFile(
      `${t.path}/pipeline.ts`,
      `import { Pipeline, step } from "${new URL("../../mod.ts", import.meta.url).href}";
// "warm" loads the module in the Worker first, so "forever" starts at once when dispatched.
const warm = step({ name: "warm", outputs: ["w"] }, () => 1);
const forever = step({ name: "forever", inputs: ["w"], outputs: ["n"], timeoutMs: 300 }, () => {
  let n = 0;
  Deno.writeTextFileSync(${JSON.stringify(counter)}, "0");
  while (true) { n++; if (n % 100000 === 0) Deno.writeTextFileSync(${
        JSON.stringify(counter)
      }, String(n)); }
});
export default new Pipeline("worker_timeouts", { source: import.meta.url }).add(warm).add(forever);
`,
    );
    const mod = await import(`file://${t.path}/pipeline.ts`);
    const result = await (mod.default as Pipeline).run({ stack });
    assert.equal(result.status, "failed");
    assert.equal(result.steps.forever.status, "failed");
    assert.match(result.steps.forever.error ?? "", /timed out after 300 ms/);
    const rec = (await stack.metadataStore.listStepRuns(result.runId)).find((r) =>
      r.step === "forever"
    )!;
    assert.equal(rec.status, "failed");
    assert.equal((await stack.metadataStore.findCacheEntries(rec.cacheKey!)).length, 0);
    // Stopped, not abandoned: the count stops moving soon after the run has failed (Worker
    // termination is asynchronous, so allow it a moment), and then stays put.
    let stopped = false;
    for (let i = 0; i < 10 && !stopped; i++) {
      const before = await Deno.readTextFile(counter);
      await new Promise((r) => setTimeout(r, 300));
      stopped = (await Deno.readTextFile(counter)) === before;
    }
    assert.ok(stopped, "the step's Worker was terminated: its count stopped moving");
    const settled = await Deno.readTextFile(counter);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await Deno.readTextFile(counter), settled, "and it stays stopped");
  } finally {
    await stack.close();
    await t.cleanup();
  }
});
