/**
 * The worker executor in a project outside this checkout, through the CLI in its least-privilege
 * child: the planned flags let the Workers load flowyml's own modules, and a permission error in
 * a step is never retried.
 */
import assert from "node:assert/strict";
import { tempDir } from "../_helpers.ts";
import { flowyml, showRun } from "../kernel/_cli.ts";

const YAML = `stacks:
  workers:
    executor: { type: worker, workers: 2 }
default_stack: workers
`;

const PIPELINE = `import { Pipeline, step } from "flowyml";
import { double } from "./lib/math.ts";
const make = step({ name: "make", outputs: ["xs"] }, () => new Float64Array([1, 2, 3]));
const twice = step({ name: "twice", inputs: ["xs"], outputs: ["ys"] }, ({ xs }) =>
  double(xs as Float64Array));
export default new Pipeline("w").add(make).add(twice);
`;

const FORBIDDEN = `import { Pipeline, step } from "flowyml";
const peek = step({ name: "peek", outputs: ["text"], retries: 3, retryDelayMs: 1 }, () =>
  Deno.readTextFileSync("/etc/hostname"));
export default new Pipeline("forbidden").add(peek);
`;

async function project() {
  const dir = await tempDir("flowyml-worker-project-");
  await Deno.mkdir(`${dir.path}/lib`);
  await Deno.writeTextFile(`${dir.path}/flowyml.yaml`, YAML);
  await Deno.writeTextFile(`${dir.path}/pipeline.ts`, PIPELINE);
  await Deno.writeTextFile(`${dir.path}/forbidden.ts`, FORBIDDEN);
  await Deno.writeTextFile(
    `${dir.path}/lib/math.ts`,
    "export const double = (xs: Float64Array) => xs.map((x) => x * 2);\n",
  );
  return dir;
}

Deno.test("worker executor runs a pipeline of a project outside the checkout", async () => {
  const dir = await project();
  try {
    const plan = await flowyml(dir.path, ["permissions", "--explain", "pipeline.ts"]);
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, /# executor "worker": read: .*\/_?kernel/);
    const r = await flowyml(dir.path, ["run", "--json", "pipeline.ts"]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /Requires read access/);
    const result = JSON.parse(r.stdout);
    assert.equal(result.status, "completed");
    const shown = await showRun(dir.path, result.runId);
    assert.deepEqual(shown.steps.map((s) => s.status), ["completed", "completed"]);
  } finally {
    await dir.cleanup();
  }
});

Deno.test("worker executor: a permission error in a step fails once, not retried", async () => {
  const dir = await project();
  try {
    const r = await flowyml(dir.path, ["run", "--json", "forbidden.ts"]);
    assert.equal(r.code, 1);
    const result = JSON.parse(r.stdout);
    assert.equal(result.status, "failed");
    assert.match(result.error, /read access to "\/etc\/hostname"/);
    assert.match(r.stderr, /--grant read=\/etc\/hostname/);
    const shown = await flowyml(dir.path, ["runs", "show", result.runId, "--json"]);
    const steps = JSON.parse(shown.stdout).steps as { step: string; attempts: number }[];
    assert.equal(steps[0].attempts, 1, "a missing permission is never retried");
  } finally {
    await dir.cleanup();
  }
});
