/**
 * The queue orchestrator holds Redis connections only while a run is active:
 * a run that ends before its queue has finished connecting (here a resume of
 * an unknown run, refused at once) must not leave an event reader behind,
 * whose blocking read would hold the process open.
 * @module
 */
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import "../../plugins/mod.ts";
import { parseConfig } from "../../kernel/config.ts";
import { Pipeline } from "../../kernel/pipeline.ts";
import { step } from "../../kernel/step.ts";
import { buildStack } from "../../kernel/stack.ts";
import { requireService, tempDir } from "../_helpers.ts";
import { REDIS_HOW, redisAvailable, startRedis } from "../services/redis.ts";

const ok = requireService("redis-server", redisAvailable(), REDIS_HOW);

/** Clients connected to the server, less `probe` itself. */
async function clients(probe: Redis): Promise<number> {
  const list = String(await probe.client("LIST"));
  return list.split("\n").filter((l) => l.trim()).length - 1;
}

Deno.test({
  name: "queue orchestrator: a run refused while its queue connects leaves no connection open",
  ignore: !ok,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const tmp = await tempDir("flowyml-queue-release-");
    const redis = await startRedis();
    const probe = new Redis(redis.url);
    try {
      const yaml = `stacks:
  q:
    orchestrator: { type: queue, redis: "${redis.url}" }
    artifact_store: { type: local, path: "${tmp.path}/artifacts" }
    metadata_store: { type: sqlite, path: "${tmp.path}/meta.db" }
`;
      const stack = await buildStack(parseConfig(yaml), "q");
      const pipeline = new Pipeline("release", { source: import.meta.url })
        .add(step({ name: "a", outputs: ["x"] }, () => 1));
      const before = await clients(probe);
      for (let i = 0; i < 3; i++) {
        await assert.rejects(
          pipeline.run({ stack, resumeRunId: `no-such-run-${i}` }),
          /no run "no-such-run-\d"/,
        );
      }
      let now = await clients(probe);
      for (let t = 0; t < 50 && now > before; t++) {
        await new Promise((r) => setTimeout(r, 100));
        now = await clients(probe);
      }
      assert.equal(now, before, "Redis connections left open after the refused runs settled");
      await stack.close();
    } finally {
      probe.disconnect();
      await redis.stop();
      await tmp.cleanup();
    }
  },
});
