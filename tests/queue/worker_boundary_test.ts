/**
 * `flowyml worker` runs steps inside the least-privilege boundary of
 * `flowyml run`: a child `deno run` holding only the stack's computed
 * permissions (Redis, the stores, the project folder). On a real redis-server,
 * a normal step completes on the worker, and a step that reads a file outside
 * its grant fails with the exact flag named and is not retried.
 * @module
 */
import assert from "node:assert/strict";
import { requireService, tempDir } from "../_helpers.ts";
import { REDIS_HOW, redisAvailable, startRedis } from "../services/redis.ts";
import "../../plugins/mod.ts";
import { parseConfig } from "../../kernel/config.ts";
import { buildStack, type Stack } from "../../kernel/stack.ts";
import type { Pipeline } from "../../kernel/pipeline.ts";
import type { QueueOrchestrator } from "../../plugins/queue/orchestrator.ts";
import { listWorkers } from "../../plugins/queue/worker.ts";
import { clusterYaml, Proc, waitFor, WORKER_MAIN } from "./_cluster.ts";

const ok = requireService("redis-server", redisAvailable(), REDIS_HOW);

/** A pipeline in the project folder: one normal step, one that reads `secret` (outside it). */
function pipelineSource(secret: string): string {
  return `import { Pipeline, step } from "flowyml";
const fine = step({ name: "fine", outputs: ["x"] }, () => {
  if (Deno.env.get("FLOWYML_TEST_TOKEN")) throw new Error("the worker's variable is visible");
  return 42;
});
const peek = step({ name: "peek", inputs: ["x"], outputs: ["y"], retries: 2, retryDelayMs: 1 },
  async () => await Deno.readTextFile(${JSON.stringify(secret)}));
export default new Pipeline("boundary", { source: import.meta.url }).add(fine).add(peek);
`;
}

Deno.test({
  name: "worker boundary: steps run in a least-privilege child; a read outside names the flag",
  ignore: !ok,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const tmp = await tempDir("flowyml-worker-boundary-");
    const redis = await startRedis();
    let worker: Proc | undefined;
    let stack: Stack | undefined;
    try {
      const proj = `${tmp.path}/proj`;
      await Deno.mkdir(proj);
      const secret = `${tmp.path}/secret.txt`;
      await Deno.writeTextFile(secret, "outside the worker's grant");
      const yaml = clusterYaml({ redis: redis.url, artifacts: `${proj}/.flowyml/artifacts` });
      await Deno.writeTextFile(`${proj}/flowyml.yaml`, yaml);
      await Deno.writeTextFile(`${proj}/pipeline.ts`, pipelineSource(secret));
      // The worker CLI itself has every permission; its steps must not.
      worker = new Proc("wb", [
        "run",
        "-A",
        WORKER_MAIN,
        "worker",
        "--stack",
        "cluster",
        "--id",
        "wb",
        "--show-flags",
      ], { FLOWYML_CONFIG: `${proj}/flowyml.yaml`, NO_COLOR: "1", FLOWYML_TEST_TOKEN: "s3cret" });
      stack = await buildStack(parseConfig(yaml, { file: `${proj}/flowyml.yaml` }), "cluster");
      const orch = stack.orchestrator as QueueOrchestrator;
      await waitFor(
        async () => (await listWorkers(orch.client(), orch.config.prefix)).length === 1,
        60_000,
        `the worker to announce itself:\n${worker.text()}`,
      );
      const flags = worker.lines.find((l) => l.startsWith("$ "));
      assert.ok(flags, worker.text());
      assert.match(flags, /--allow-net=127\.0\.0\.1:\d+/);
      assert.match(flags, /--frozen/);
      assert.doesNotMatch(flags, /--allow-(read|write|net|run|sys|ffi)(\s|$)/);
      // --allow-env covers a cleared environment that holds only granted variables.
      assert.match(flags, /--allow-env /);
      assert.doesNotMatch(flags, /--allow-run/);

      const pipeline = (await import(`${proj}/pipeline.ts`)).default as Pipeline;
      const res = await pipeline.run({ stack });
      assert.equal(res.status, "failed");
      const steps = await stack.metadataStore.listStepRuns(res.runId);
      const fine = steps.find((s) => s.step === "fine")!;
      // Completed: the worker process has FLOWYML_TEST_TOKEN, its step process does not.
      assert.equal(fine.status, "completed", fine.error ?? "");
      assert.equal(fine.worker, "wb");
      const peek = steps.find((s) => s.step === "peek")!;
      assert.equal(peek.status, "failed");
      assert.equal(peek.worker ?? "wb", "wb");
      // The attack really ran in the worker and was refused there, naming the exact flag.
      assert.ok(peek.error?.includes(`--allow-read=${secret}`), peek.error ?? "");
      assert.match(peek.error ?? "", /flowyml worker --grant read=/);
      // Never retried: it would fail the same way again.
      assert.equal(peek.attempts, 1);
    } finally {
      worker?.kill("SIGTERM");
      await worker?.done;
      await stack?.close();
      await redis.stop();
      await tmp.cleanup();
    }
  },
});
