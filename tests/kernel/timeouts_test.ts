/**
 * Issue 10, case 5: a step over its timeout is recorded failed (timeout),
 * never completed, and never cached: on the default in-process executor
 * (which cannot pre-empt synchronous code, and says so) and on the worker
 * executor (which really stops the step: its Worker is terminated).
 */
import assert from "node:assert/strict";
import { tempDir } from "../_helpers.ts";
import { flowyml, showRun } from "./_cli.ts";
import type { Pipeline } from "../../mod.ts";
import { tempStack } from "./_stack.ts";

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

Deno.test("timeouts (worker executor, in-process API): the step is failed at its timeout, never cached", async () => {
  const { stack, dir, cleanup } = await tempStack({ workers: 1 });
  try {
    // The step spins for 1.5 s, well past its 300 ms timeout, then ends on its own: Deno 2.9.6
    // cannot stop a busy Worker thread (below), and one that never ended would burn a core for
    // the rest of this test process.
    await Deno.writeTextFile(
      `${dir}/pipeline.ts`,
      `import { Pipeline, step } from "${new URL("../../mod.ts", import.meta.url).href}";
// "warm" loads the module in the Worker first, so "forever" starts at once when dispatched.
const warm = step({ name: "warm", outputs: ["w"] }, () => 1);
const forever = step({ name: "forever", inputs: ["w"], outputs: ["n"], timeoutMs: 300 }, () => {
  const end = Date.now() + 1500;
  let n = 0;
  while (Date.now() < end) n++;
  return n;
});
export default new Pipeline("worker_timeouts", { source: import.meta.url }).add(warm).add(forever);
`,
    );
    const mod = await import(`file://${dir}/pipeline.ts`);
    const result = await (mod.default as Pipeline).run({ stack });
    assert.equal(result.status, "failed");
    assert.equal(result.steps.forever.status, "failed");
    assert.match(result.steps.forever.error ?? "", /timed out after 300 ms/);
    const rec = (await stack.metadataStore.listStepRuns(result.runId)).find((r) =>
      r.step === "forever"
    )!;
    assert.equal(rec.status, "failed");
    assert.equal((await stack.metadataStore.findCacheEntries(rec.cacheKey!)).length, 0);
    // Deno 2.9.6's worker.terminate() does not stop a thread busy in a loop (the same upstream
    // limit docs/sandbox.md records for WASM): the executor terminates the Worker and never
    // uses it again, and the result is discarded, but the thread runs on until this process
    // exits. Through `flowyml run` the step's process is the child, which exits with the run:
    // the next test proves the step really stops there.
  } finally {
    await cleanup();
  }
});

Deno.test("timeouts (CLI, worker executor): the run fails at the timeout and the step really stops", async () => {
  const t = await tempDir();
  try {
    const counter = `${t.path}/counter.txt`;
    await Deno.writeTextFile(
      `${t.path}/flowyml.yaml`,
      `stacks:
  local:
    orchestrator: { type: local }
    executor: { type: worker, workers: 1 }
    artifact_store: { type: local, path: .flowyml/artifacts }
    metadata_store: { type: sqlite, path: .flowyml/metadata.db }
`,
    );
    await Deno.writeTextFile(
      `${t.path}/pipeline.ts`,
      `import { Pipeline, step } from "flowyml";
const forever = step({ name: "forever", outputs: ["n"], timeoutMs: 300 }, () => {
  let n = 0;
  while (true) { n++; if (n % 1000000 === 0) Deno.writeTextFileSync(${
        JSON.stringify(counter)
      }, String(n)); }
});
export default new Pipeline("cli_worker_timeouts").add(forever);
`,
    );
    const r = await flowyml(t.path, ["run", "pipeline.ts", "--grant", `write=${counter}`]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /timed out after 300 ms/);
    // The process may have ended mid-rewrite, leaving the file empty: compare the text.
    const count = () => Deno.readTextFile(counter).catch(() => "(none)");
    assert.notEqual(await count(), "(none)", "the step really ran");
    const settled = await count();
    await new Promise((res) => setTimeout(res, 500));
    assert.equal(await count(), settled, "the step stopped with the run's process");
  } finally {
    await t.cleanup();
  }
});
