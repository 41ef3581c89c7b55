/**
 * `--json` through the CLI as a user runs it: stdout parses with JSON.parse and holds nothing
 * else; step prints and `ctx.log` lines go to stderr.
 */
import assert from "node:assert/strict";
import { requireService, tempDir } from "../_helpers.ts";
import { flowyml } from "../kernel/_cli.ts";
import { REDIS_HOW, redisAvailable, startRedis } from "../services/redis.ts";

const PIPELINE = `import { Pipeline, step } from "flowyml";
const hello = step({ name: "hello", outputs: ["msg"] }, (_i, ctx) => {
  console.log("printed by hello");
  ctx.log("logged by hello");
  return "hi";
});
const shout = step({ name: "shout", inputs: ["msg"], outputs: ["loud"] }, ({ msg }) => {
  console.info("printed by shout");
  return String(msg).toUpperCase();
});
export default new Pipeline("p").add(hello).add(shout);
`;

const YAML = `stacks:
  local: {}
  workers:
    executor: { type: worker, workers: 1 }
`;

async function project() {
  const dir = await tempDir("flowyml-json-");
  await Deno.writeTextFile(`${dir.path}/pipeline.ts`, PIPELINE);
  await Deno.writeTextFile(`${dir.path}/flowyml.yaml`, YAML);
  return dir;
}

for (const stack of ["local", "workers"]) {
  Deno.test(`run --json on the ${stack} stack: stdout is the result alone`, async () => {
    const dir = await project();
    try {
      const r = await flowyml(dir.path, ["run", "--json", "--stack", stack, "pipeline.ts"]);
      assert.equal(r.code, 0, r.stderr);
      const result = JSON.parse(r.stdout);
      assert.equal(result.status, "completed");
      assert.deepEqual(Object.keys(result.steps).sort(), ["hello", "shout"]);
      assert.match(r.stderr, /printed by hello/);
      assert.match(r.stderr, /printed by shout/);
      assert.match(r.stderr, /\[hello\] logged by hello/);

      const list = await flowyml(dir.path, ["runs", "list", "--json"]);
      assert.equal(list.code, 0, list.stderr);
      const runs = JSON.parse(list.stdout);
      assert.equal(runs.length, 1);
      assert.equal(runs[0].runId, result.runId);
      assert.equal(runs[0].status, "completed");

      const show = await flowyml(dir.path, ["runs", "show", result.runId, "--json"]);
      assert.equal(show.code, 0, show.stderr);
      const shown = JSON.parse(show.stdout);
      assert.equal(shown.run.runId, result.runId);
      assert.deepEqual(shown.steps.map((s: { step: string }) => s.step).sort(), ["hello", "shout"]);
    } finally {
      await dir.cleanup();
    }
  });
}

Deno.test("run --json on a failing pipeline: stdout is still one JSON document", async () => {
  const dir = await project();
  try {
    await Deno.writeTextFile(
      `${dir.path}/fail.ts`,
      `import { Pipeline, step } from "flowyml";
export default new Pipeline("f").add(step({ name: "boom", outputs: ["x"] }, () => {
  console.log("about to fail");
  throw new Error("boom");
}));
`,
    );
    const r = await flowyml(dir.path, ["run", "--json", "fail.ts"]);
    assert.equal(r.code, 1);
    const result = JSON.parse(r.stdout);
    assert.equal(result.status, "failed");
    assert.match(result.error, /boom/);
    assert.match(r.stderr, /about to fail/);
  } finally {
    await dir.cleanup();
  }
});

Deno.test("component list --json and stack list --json parse", async () => {
  const dir = await project();
  try {
    const c = await flowyml(dir.path, ["component", "list", "--json"]);
    assert.equal(c.code, 0, c.stderr);
    const comps = JSON.parse(c.stdout) as { kind: string; name: string; origin: string }[];
    assert.ok(comps.some((x) => x.kind === "executor" && x.name === "worker"));
    assert.ok(comps.every((x) => typeof x.origin === "string"));
    const s = await flowyml(dir.path, ["stack", "list", "--json"]);
    assert.equal(s.code, 0, s.stderr);
    JSON.parse(s.stdout);
  } finally {
    await dir.cleanup();
  }
});

Deno.test("workers list --json parses (real Redis, no workers yet)", async () => {
  if (!requireService("redis-server", redisAvailable(), REDIS_HOW)) return;
  const redis = await startRedis();
  const dir = await project();
  try {
    await Deno.writeTextFile(
      `${dir.path}/flowyml.yaml`,
      `stacks:\n  q:\n    orchestrator: { type: queue, redis: "${redis.url}" }\n`,
    );
    const r = await flowyml(dir.path, ["workers", "list", "--stack", "q", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), []);
  } finally {
    await dir.cleanup();
    await redis.stop();
  }
});
