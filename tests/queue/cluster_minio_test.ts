/**
 * The issue's `cluster` stack end to end: queue orchestrator on real Redis,
 * `type: minio` artifacts on a real S3 server (OpenStack Swift with s3api)
 * and `type: postgres` metadata, with 2 worker processes. Artifacts move
 * through the bucket only; Redis carries references.
 * @module
 */
import assert from "node:assert/strict";
import { requireService, tempDir } from "../_helpers.ts";
import { REDIS_HOW, redisAvailable, startRedis } from "../services/redis.ts";
import { POSTGRES_HOW, postgresAvailable, startPostgres } from "../services/postgres.ts";
import { startS3, SWIFT_HOW, swiftAvailable } from "../services/s3.ts";
import "../../plugins/mod.ts";
import { parseConfig } from "../../kernel/config.ts";
import { buildStack, type Stack } from "../../kernel/stack.ts";
import type { Pipeline } from "../../kernel/pipeline.ts";
import { clusterYaml, fixture, type Proc, spawnWorker, waitFor } from "./_cluster.ts";

const ok = requireService("redis-server", redisAvailable(), REDIS_HOW) &&
  requireService("PostgreSQL 15", postgresAvailable(), POSTGRES_HOW) &&
  requireService("Swift S3 server", swiftAvailable(), SWIFT_HOW);

Deno.test({
  name: "scale-out on the cluster stack: queue + minio artifacts + postgres metadata",
  ignore: !ok,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const tmp = await tempDir("flowyml-cluster-s3-");
    const [redis, pg, s3] = await Promise.all([startRedis(), startPostgres(), startS3()]);
    const procs: Proc[] = [];
    let stack: Stack | undefined;
    try {
      const artifactStore = JSON.stringify({
        type: "minio",
        endpoint: s3.endpoint,
        bucket: "ml-artifacts",
        region: s3.region,
        access_key: s3.accessKey,
        secret_key: s3.secretKey,
        create_bucket: true,
      });
      const yaml = clusterYaml({
        redis: redis.url,
        pg: await pg.createDatabase("cluster_s3"),
        artifacts: `${tmp.path}/unused`,
        artifactStore,
      });
      const config = `${tmp.path}/flowyml.yaml`;
      await Deno.writeTextFile(config, yaml);
      stack = await buildStack(parseConfig(yaml), "cluster");
      await stack.artifactStore.validate(); // creates the bucket
      procs.push(spawnWorker("s1", config), spawnWorker("s2", config));
      await waitFor(
        () => procs.every((p) => p.lines.some((l) => l.includes("worker started"))),
        30_000,
        `workers to start:\n${procs.map((p) => p.text()).join("\n")}`,
      ).catch((e) => {
        throw new Error(`${e.message}\n${procs.map((p) => p.text()).join("\n")}`);
      });
      const pipeline = (await import(fixture("fanout"))).default as Pipeline;
      const res = await pipeline.run({ stack, params: { sleepMs: 400 } });
      assert.equal(
        res.status,
        "completed",
        String(res.error) + procs.map((p) => p.text()).join("\n"),
      );
      assert.equal(res.outputs.total, 10 * 21);
      const steps = await stack.metadataStore.listStepRuns(res.runId);
      assert.deepEqual([...new Set(steps.map((s) => s.worker))].sort(), ["s1", "s2"]);
      const arts = await stack.metadataStore.listArtifacts(res.runId);
      assert.equal(arts.length, 8);
      for (const a of arts) {
        assert.match(a.uri, /^s3:\/\/ml-artifacts\/objects\//);
        assert.ok(await stack.artifactStore.exists(a.path), `${a.path} is in the bucket`);
      }
    } finally {
      await stack?.close();
      for (const p of procs) p.kill("SIGKILL");
      await Promise.all(procs.map((p) => p.done));
      await Promise.all([redis.stop(), pg.stop(), s3.stop()]);
      await tmp.cleanup();
    }
  },
});
