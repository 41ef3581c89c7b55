/**
 * A project with its own `deno.json` on a queue stack, through the real CLI:
 * `flowyml worker` and `flowyml run --stack cluster`, each in its
 * least-privilege child, import a pipeline that imports a module only the
 * project's import map names (cli/project_imports.ts).
 * @module
 */
import assert from "node:assert/strict";
import { requireService, tempDir } from "../_helpers.ts";
import { REDIS_HOW, redisAvailable, startRedis } from "../services/redis.ts";
import { clusterYaml, Proc, waitFor, WORKER_MAIN } from "./_cluster.ts";

const ok = requireService("redis-server", redisAvailable(), REDIS_HOW);
const ROOT = new URL("../../", import.meta.url).pathname;

const PIPELINE = `import { Pipeline, step } from "flowyml";
import { base } from "mylib";
const a = step({ name: "a", outputs: ["x"] }, () => base);
const b = step({ name: "b", inputs: ["x"], outputs: ["y"] }, ({ x }) => (x as number) + base + 2);
export default new Pipeline("mapped_cluster", { source: import.meta.url }).add(a).add(b);
`;

Deno.test({
  name: "queue stack: the worker's and the driver's children resolve the project's import map",
  ignore: !ok,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const tmp = await tempDir("flowyml-cluster-imports-");
    const redis = await startRedis();
    const procs: Proc[] = [];
    try {
      const proj = `${tmp.path}/proj`;
      await Deno.mkdir(`${proj}/lib`, { recursive: true });
      const yaml = clusterYaml({ redis: redis.url, artifacts: `${proj}/.flowyml/artifacts` });
      await Deno.writeTextFile(`${proj}/flowyml.yaml`, yaml);
      await Deno.writeTextFile(
        `${proj}/deno.json`,
        JSON.stringify({ imports: { flowyml: `${ROOT}mod.ts`, mylib: "./lib/mylib.ts" } }),
      );
      await Deno.writeTextFile(`${proj}/lib/mylib.ts`, "export const base = 20;\n");
      await Deno.writeTextFile(`${proj}/pipeline.ts`, PIPELINE);
      const env = { FLOWYML_CONFIG: `${proj}/flowyml.yaml`, NO_COLOR: "1" };
      const worker = new Proc("w", ["run", "-A", WORKER_MAIN, "worker", "--stack", "cluster"], env);
      procs.push(worker);
      await waitFor(() => worker.lines.some((l) => l.includes("worker started")), 60_000, "worker");
      const run = new Proc("run", [
        "run",
        "-A",
        `${ROOT}cli/main.ts`,
        "run",
        `${proj}/pipeline.ts`,
        "--stack",
        "cluster",
        "--json",
      ], env);
      procs.push(run);
      const st = await run.done;
      assert.equal(st.code, 0, run.text() + worker.text());
      assert.match(run.text(), /"status": "completed"/);
      // Both steps ran on the worker, which imported the pipeline (and mylib) itself.
      const stepLines = () => worker.lines.filter((l) => /run=mapped_cluster-/.test(l));
      await waitFor(() => stepLines().length >= 2, 10_000, `two step lines:\n${worker.text()}`);
      assert.ok(stepLines().every((l) => !/\bfailed\b/.test(l)), stepLines().join("\n"));
    } finally {
      for (const p of procs) p.kill("SIGTERM");
      await Promise.all(procs.map((p) => p.done));
      await redis.stop();
      await tmp.cleanup();
    }
  },
});
