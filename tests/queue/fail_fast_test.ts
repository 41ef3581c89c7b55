/**
 * Regression tests of issue 13 through the real CLI: `flowyml run --stack
 * cluster` works in its least-privilege mode (the queue orchestrator and the
 * stores declare what they need; BullMQ gets a cleared environment) and
 * exits after the run; a Redis that cannot be reached fails `worker`,
 * `workers list` and `run` within seconds, naming the address and the fix.
 * @module
 */
import assert from "node:assert/strict";
import { freePort, requireService, tempDir } from "../_helpers.ts";
import { REDIS_HOW, redisAvailable, startRedis } from "../services/redis.ts";
import { POSTGRES_HOW, postgresAvailable, startPostgres } from "../services/postgres.ts";
import { clusterYaml, Proc, waitFor, WORKER_MAIN } from "./_cluster.ts";

const ok = requireService("redis-server", redisAvailable(), REDIS_HOW) &&
  requireService("PostgreSQL 15", postgresAvailable(), POSTGRES_HOW);
const MAIN = new URL("../../cli/main.ts", import.meta.url).pathname;

const PIPELINE = `import { Pipeline, step } from "flowyml";
const a = step({ name: "a", outputs: ["x"] }, () => 20);
const b = step({ name: "b", inputs: ["x"], outputs: ["y"] }, ({ x }) => (x as number) + 22);
export default new Pipeline("lp", { source: import.meta.url }).add(a).add(b);
`;

Deno.test({
  name: "flowyml run --stack cluster: least-privilege child, completes and exits",
  ignore: !ok,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const tmp = await tempDir("flowyml-run-cluster-");
    const redis = await startRedis();
    const pg = await startPostgres();
    const procs: Proc[] = [];
    try {
      const proj = `${tmp.path}/proj`;
      await Deno.mkdir(proj);
      const yaml = clusterYaml({
        redis: redis.url,
        pg: await pg.createDatabase("lp"),
        artifacts: `${proj}/.flowyml/artifacts`,
      });
      await Deno.writeTextFile(`${proj}/flowyml.yaml`, yaml);
      await Deno.writeTextFile(`${proj}/pipeline.ts`, PIPELINE);
      const env = { FLOWYML_CONFIG: `${proj}/flowyml.yaml`, NO_COLOR: "1" };
      const worker = new Proc("w", [
        "run",
        "-A",
        WORKER_MAIN,
        "worker",
        "--stack",
        "cluster",
        "--id",
        "w",
      ], env);
      procs.push(worker);
      await waitFor(() => worker.lines.some((l) => l.includes("worker started")), 60_000, "worker");
      // No --inherit-permissions: the pipeline runs in the computed least-privilege child.
      const run = new Proc("run", [
        "run",
        "-A",
        MAIN,
        "run",
        `${proj}/pipeline.ts`,
        "--stack",
        "cluster",
        "--show-flags",
      ], env);
      procs.push(run);
      const st = await run.done; // it exits: no timer or connection outlives the run
      assert.equal(st.code, 0, run.text());
      const flags = run.lines.find((l) => l.startsWith("$ "))!;
      assert.match(flags, /--allow-net=[^ ]*127\.0\.0\.1:\d+,127\.0\.0\.1:\d+/); // Redis, PostgreSQL
      assert.match(flags, /--allow-env /, "--allow-env over a cleared environment");
      assert.match(run.text(), /completed/);
    } finally {
      for (const p of procs) p.kill("SIGTERM");
      await Promise.all(procs.map((p) => p.done));
      await pg.stop();
      await redis.stop();
      await tmp.cleanup();
    }
  },
});

Deno.test({
  name: "a Redis that cannot be reached: worker, workers list and run fail fast with the fix",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const tmp = await tempDir("flowyml-redis-down-");
    try {
      const port = freePort(); // nothing listens there
      const yaml = clusterYaml({
        redis: `redis://127.0.0.1:${port}`,
        artifacts: `${tmp.path}/artifacts`,
      });
      await Deno.writeTextFile(`${tmp.path}/flowyml.yaml`, yaml);
      await Deno.writeTextFile(`${tmp.path}/pipeline.ts`, PIPELINE);
      const env = { FLOWYML_CONFIG: `${tmp.path}/flowyml.yaml`, NO_COLOR: "1" };
      const cases = [
        [WORKER_MAIN, "worker", "--stack", "cluster", "--inherit-permissions"],
        [WORKER_MAIN, "workers", "list", "--stack", "cluster"],
        [MAIN, "run", `${tmp.path}/pipeline.ts`, "--stack", "cluster", "--inherit-permissions"],
      ];
      for (const args of cases) {
        const p = new Proc(args[1], ["run", "-A", ...args], env);
        const st = await p.done;
        assert.notEqual(st.code, 0, p.text());
        assert.match(p.text(), new RegExp(`cannot reach Redis at redis://127\\.0\\.0\\.1:${port}`));
        assert.match(p.text(), /start redis-server there, or fix orchestrator\.redis/);
      }
    } finally {
      await tmp.cleanup();
    }
  },
});
