/**
 * A queue worker's step that outlives its `timeoutMs` fails with the timeout
 * error as soon as the limit passes, even when the step ignores its signal
 * (the worker stops waiting for it), and its `ctx.signal` is aborted. Real
 * Redis, an in-process `QueueWorker`.
 * @module
 */
import assert from "node:assert/strict";
import { requireService, tempDir } from "../_helpers.ts";
import { REDIS_HOW, redisAvailable, startRedis } from "../services/redis.ts";
import "../../plugins/mod.ts";
import { parseConfig } from "../../kernel/config.ts";
import { buildStack } from "../../kernel/stack.ts";
import type { Pipeline } from "../../kernel/pipeline.ts";
import { QueueWorker } from "../../plugins/queue/worker.ts";
import type { QueueOrchestrator } from "../../plugins/queue/orchestrator.ts";

const ok = requireService("redis-server", redisAvailable(), REDIS_HOW);
const MOD = new URL("../../mod.ts", import.meta.url).href;

const PIPELINE = `import { Pipeline, step } from "${MOD}";
export const seen = { aborted: false };
export default new Pipeline("stuck", { source: import.meta.url, cache: false }).add(
  step({ name: "stuck", outputs: ["x"], timeoutMs: 300, retries: 0 }, async (_i, ctx) => {
    ctx.signal.addEventListener("abort", () => seen.aborted = true);
    await new Promise((r) => setTimeout(r, 3_000)); // ignores its signal
    return 1;
  }),
);
`;

Deno.test({
  name: "queue worker: a step past its timeoutMs fails at the limit, its signal aborted",
  ignore: !ok,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const tmp = await tempDir("flowyml-qtimeout-");
    const redis = await startRedis();
    const stack = await buildStack(
      parseConfig(`stacks:
  q:
    orchestrator: { type: queue, redis: "${redis.url}", concurrency: 2 }
    artifact_store: { type: local, path: ${tmp.path}/artifacts }
    metadata_store: { type: sqlite, path: ${tmp.path}/meta.db }
`),
      "q",
    );
    const orch = stack.orchestrator as QueueOrchestrator;
    const worker = new QueueWorker(stack, orch.config, { id: "tw", log: () => {} });
    try {
      await worker.start();
      await Deno.writeTextFile(`${tmp.path}/stuck.ts`, PIPELINE);
      const mod = await import(`file://${tmp.path}/stuck.ts`);
      const t0 = performance.now();
      const res = await (mod.default as Pipeline).run({ stack });
      const took = performance.now() - t0;
      assert.equal(res.status, "failed");
      assert.match(String(res.error), /stuck.*(timed out|timeout).*300/i);
      assert.ok(took < 2_500, `failed at the limit, not when the step returned (${took} ms)`);
      assert.equal(mod.seen.aborted, true, "the step's ctx.signal was aborted");
      assert.deepEqual(worker.current(), [], "the worker no longer counts it as running");
    } finally {
      await worker.stop({ graceMs: 0 });
      await stack.close();
      await redis.stop();
      await tmp.cleanup();
    }
  },
});
