/**
 * `inline_small_outputs` on the remote artifact stores (issue 16): with the
 * option on, small step outputs of runs whose steps reach the metadata store
 * (in-process, or queue workers that send them back to the driver) stay in
 * the SQLite metadata store's blobs, and large ones are objects in the
 * bucket; with it off (the default) every output is an object, as before.
 * Real servers only: OpenStack Swift with s3api, the firebase-tools GCS
 * emulator, Redis; each missing one skips loudly (a failure when CI=true).
 */
import assert from "node:assert/strict";
import { Storage } from "@google-cloud/storage";
import { requireService, tempDir } from "../_helpers.ts";
import { s3Keys, type S3Server, startS3, SWIFT_HOW, swiftAvailable } from "../services/s3.ts";
import { GCS_HOW, gcsAvailable, startGcs } from "../services/gcs.ts";
import { REDIS_HOW, redisAvailable, startRedis } from "../services/redis.ts";
import { loadValue, objectPath } from "../../kernel/artifacts.ts";
import type { ArtifactRef } from "../../kernel/records.ts";
import { verifyArtifacts } from "../../kernel/verify.ts";
import { buildStack, parseConfig, Pipeline, type Stack, step } from "../../mod.ts";
import { MinIOArtifactStore } from "../../plugins/s3/store.ts";
import { GCSArtifactStore } from "../../plugins/gcs/store.ts";
import { clusterYaml, fixture, type Proc, spawnWorker, waitFor } from "../queue/_cluster.ts";

const s3Ok = requireService("OpenStack Swift (s3api)", swiftAvailable(), SWIFT_HOW);
const gcsOk = requireService("GCS emulator (firebase-tools)", gcsAvailable(), GCS_HOW);
const redisOk = s3Ok && requireService("redis-server", redisAvailable(), REDIS_HOW);

/** 80,000 bytes as a typed array: over the 64 KiB inline limit. */
const bigValue = () => Float64Array.from({ length: 10_000 }, (_, i) => i);

/** `small` (a few bytes) and `big` (80 KB), and `total` reading both. */
function pipeline(name: string): Pipeline {
  return new Pipeline(name)
    .add(step({ name: "small", outputs: ["rows"] }, () => ({ items: [1, 2, 3] })))
    .add(step({ name: "big", outputs: ["values"] }, bigValue))
    .add(
      step(
        { name: "total", inputs: ["rows", "values"], outputs: ["sum"] },
        ({ rows, values }) =>
          (rows as { items: number[] }).items.length + (values as Float64Array)[9_999],
      ),
    );
}

/**
 * Run `pipeline(name)` twice on `stack`: the first run computes, the second is served from the
 * cache with the same values. Returns the first run's refs of `rows` and `values`.
 */
async function runTwice(stack: Stack, name: string) {
  const first = await pipeline(name).run({ stack });
  assert.equal(first.status, "completed", String(first.error));
  assert.equal(first.outputs.sum, 3 + 9_999);
  const second = await pipeline(name).run({ stack });
  assert.equal(second.status, "completed", String(second.error));
  for (const s of ["small", "big", "total"]) {
    assert.equal(second.steps[s].cached, true, `${s} is served from the cache`);
  }
  assert.equal(second.outputs.sum, 3 + 9_999);
  // The cached outputs read back intact (hash-verified), from the blobs table or the bucket.
  const read = (ref: ArtifactRef) =>
    loadValue(stack.artifactStore, ref, { blobs: stack.metadataStore });
  assert.deepEqual(await read(second.steps.small.outputs.rows), { items: [1, 2, 3] });
  assert.deepEqual(await read(second.steps.big.outputs.values), bigValue());
  return { rows: first.steps.small.outputs.rows, values: first.steps.big.outputs.values };
}

/** Every artifact of the stack verifies (`flowyml artifacts verify`), inline ones included. */
async function assertVerified(stack: Stack, inline: number): Promise<void> {
  const checked = await verifyArtifacts(stack);
  assert.ok(checked.length >= 3, JSON.stringify(checked));
  for (const c of checked) assert.equal(c.check.status, "ok", JSON.stringify(c));
  assert.equal(checked.filter((c) => c.path.startsWith("blobs/")).length, inline);
}

function minioYaml(s3: S3Server, bucket: string, db: string, extra = ""): string {
  return `stacks:
  remote:
    artifact_store:
      type: minio
      endpoint: ${s3.endpoint}
      bucket: ${bucket}
      access_key: "${s3.accessKey}"
      secret_key: "${s3.secretKey}"
      create_bucket: true${extra}
    metadata_store: { type: sqlite, path: ${db} }
`;
}

Deno.test({
  name: "inline_small_outputs on a minio stack (Swift s3api): small inline, large in the bucket",
  ignore: !s3Ok,
  sanitizeResources: false,
  sanitizeOps: false,
}, async (t) => {
  const s3 = await startS3();
  const tmp = await tempDir();
  try {
    await t.step(
      "on: the small output is inline, the large one an object; cached rerun",
      async () => {
        const yaml = minioYaml(
          s3,
          "inline-on",
          `${tmp.path}/on.db`,
          "\n      inline_small_outputs: true",
        );
        const stack = await buildStack(parseConfig(yaml), "remote");
        try {
          assert.ok(stack.artifactStore instanceof MinIOArtifactStore);
          assert.equal(stack.artifactStore.acceptsInline, true);
          assert.equal(stack.artifactStore.toDict().inline_small_outputs, true);
          const { rows, values } = await runTwice(stack, "inline_on");
          assert.equal(rows.inline, true);
          assert.equal(rows.path, `blobs/${rows.hash}`);
          assert.match(rows.uri, /^sqlite:.*on\.db#blobs\/[0-9a-f]{64}$/);
          assert.equal(values.inline, undefined);
          assert.equal(values.uri, `s3://inline-on/${objectPath(values.hash)}`);
          const keys = await s3Keys(s3, "inline-on");
          assert.ok(keys.includes(objectPath(values.hash)), `large output in ${keys}`);
          assert.ok(!keys.includes(objectPath(rows.hash)), `no object for the small one: ${keys}`);
          assert.equal(await stack.artifactStore.exists(objectPath(rows.hash)), false);
          // The bucket holds the large output only (`total`'s sum is small and inline too).
          assert.deepEqual(keys.filter((k) => k.startsWith("objects/")), [objectPath(values.hash)]);
          assert.ok(
            await stack.metadataStore.getBlob(rows.hash),
            "its bytes are in the blobs table",
          );
          await assertVerified(stack, 2);
        } finally {
          await stack.close();
        }
      },
    );

    await t.step(
      "turned off later: the inline outputs stay inline and are still cache hits",
      async () => {
        const yaml = minioYaml(s3, "inline-on", `${tmp.path}/on.db`);
        const stack = await buildStack(parseConfig(yaml), "remote");
        try {
          assert.equal(stack.artifactStore.acceptsInline, false);
          const r = await pipeline("inline_on").run({ stack });
          assert.equal(r.status, "completed", String(r.error));
          assert.ok(Object.values(r.steps).every((s) => s.cached), "every step is cached");
          assert.equal(r.steps.small.outputs.rows.inline, true, "not moved into the bucket");
          assert.equal(r.outputs.sum, 3 + 9_999);
          const keys = (await s3Keys(s3, "inline-on")).filter((k) => k.startsWith("objects/"));
          assert.equal(keys.length, 1, keys.join(","));
        } finally {
          await stack.close();
        }
      },
    );

    await t.step("off (the default): every output is an object in the bucket", async () => {
      const stack = await buildStack(
        parseConfig(minioYaml(s3, "inline-off", `${tmp.path}/off.db`)),
        "remote",
      );
      try {
        assert.equal(stack.artifactStore.acceptsInline, false);
        assert.equal("inline_small_outputs" in stack.artifactStore.toDict(), false);
        const { rows, values } = await runTwice(stack, "inline_off");
        assert.equal(rows.inline, undefined);
        assert.equal(values.inline, undefined);
        assert.equal(rows.uri, `s3://inline-off/${objectPath(rows.hash)}`);
        const keys = (await s3Keys(s3, "inline-off")).filter((k) => k.startsWith("objects/"));
        assert.equal(keys.length, 3, keys.join(","));
        assert.ok(keys.includes(objectPath(rows.hash)) && keys.includes(objectPath(values.hash)));
        await assertVerified(stack, 0);
      } finally {
        await stack.close();
      }
    });

    await t.step("the option is a boolean; a wrong type is a config error naming it", () => {
      assert.throws(
        () =>
          new MinIOArtifactStore({
            endpoint: s3.endpoint,
            bucket: "x-y-z",
            inline_small_outputs: "yes" as unknown as boolean,
          }),
        /inline_small_outputs/,
      );
    });
  } finally {
    await s3.stop();
    await tmp.cleanup();
  }
});

Deno.test({
  name: "inline_small_outputs on a minio stack with queue workers: small outputs come back inline",
  ignore: !redisOk,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const tmp = await tempDir("flowyml-inline-queue-");
  const [redis, s3] = await Promise.all([startRedis(), startS3()]);
  const procs: Proc[] = [];
  let stack: Stack | undefined;
  try {
    const artifactStore = JSON.stringify({
      type: "minio",
      endpoint: s3.endpoint,
      bucket: "inline-queue",
      access_key: s3.accessKey,
      secret_key: s3.secretKey,
      create_bucket: true,
      inline_small_outputs: true,
    });
    await Deno.mkdir(`${tmp.path}/unused`);
    const yaml = clusterYaml({ redis: redis.url, artifacts: `${tmp.path}/unused`, artifactStore });
    const config = `${tmp.path}/flowyml.yaml`;
    await Deno.writeTextFile(config, yaml);
    stack = await buildStack(parseConfig(yaml), "cluster");
    await stack.artifactStore.validate(); // creates the bucket
    procs.push(spawnWorker("q1", config));
    await waitFor(
      () => procs[0].lines.some((l) => l.includes("worker started")),
      30_000,
      "the worker to start",
    ).catch((e) => {
      throw new Error(`${e.message}\n${procs[0].text()}`);
    });
    const fanout = (await import(fixture("fanout"))).default as Pipeline;
    const res = await fanout.run({ stack, params: { sleepMs: 10 } });
    assert.equal(res.status, "completed", String(res.error) + procs[0].text());
    assert.equal(res.outputs.total, 10 * 21);
    const steps = await stack.metadataStore.listStepRuns(res.runId);
    assert.ok(steps.every((s) => s.worker === "q1"), "every step ran on the worker");
    const arts = await stack.metadataStore.listArtifacts(res.runId);
    assert.equal(arts.length, 8);
    for (const a of arts) {
      assert.equal(a.inline, true, `${a.step} output is inline`);
      assert.ok(await stack.metadataStore.getBlob(a.hash), `${a.step} output is in the blobs`);
    }
    const keys = await s3Keys(s3, "inline-queue");
    assert.deepEqual(keys.filter((k) => k.startsWith("objects/")), [], "no step output object");
  } finally {
    await stack?.close();
    for (const p of procs) p.kill("SIGKILL");
    await Promise.all(procs.map((p) => p.done));
    await Promise.all([redis.stop(), s3.stop()]);
    await tmp.cleanup();
  }
});

Deno.test({
  name:
    "inline_small_outputs on a gcs stack (firebase-tools emulator): small inline, large in the bucket",
  ignore: !gcsOk,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const gcs = await startGcs();
  const tmp = await tempDir();
  try {
    const yaml = `stacks:
  gcp:
    artifact_store:
      type: gcs
      bucket: inline-gcs
      api_endpoint: "${gcs.endpoint}"
      project_id: ${gcs.projectId}
      create_bucket: true
      inline_small_outputs: true
    metadata_store: { type: sqlite, path: ${tmp.path}/gcs.db }
`;
    const stack = await buildStack(parseConfig(yaml), "gcp");
    try {
      assert.ok(stack.artifactStore instanceof GCSArtifactStore);
      assert.equal(stack.artifactStore.acceptsInline, true);
      assert.equal(stack.artifactStore.toDict().inline_small_outputs, true);
      await stack.validate();
      const { rows, values } = await runTwice(stack, "inline_gcs");
      assert.equal(rows.inline, true);
      assert.equal(values.inline, undefined);
      assert.equal(values.uri, `gs://inline-gcs/${objectPath(values.hash)}`);
      const storage = new Storage({ apiEndpoint: gcs.endpoint, projectId: gcs.projectId });
      const [files] = await storage.bucket("inline-gcs").getFiles({ prefix: "objects/" });
      assert.deepEqual(files.map((f) => f.name), [objectPath(values.hash)]);
      await assertVerified(stack, 2);
    } finally {
      await stack.close();
    }
  } finally {
    await gcs.stop();
    await tmp.cleanup();
  }
});
