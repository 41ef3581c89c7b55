/**
 * The `MetadataStore` contract, as one function run against every store
 * (SQLite and PostgreSQL), so both keep the same behaviour.
 * @module
 */
import assert from "node:assert/strict";
import type { MetadataStore } from "../../kernel/metadata_store.ts";
import type { ArtifactRef, RunRecord } from "../../kernel/records.ts";

const ref = (h: string): ArtifactRef => ({
  hash: h.repeat(64).slice(0, 64),
  path: `objects/${h}${h}/${h.repeat(64).slice(0, 64)}`,
  uri: `file:///tmp/objects/${h}`,
  size: 12,
  serializer: "json",
  serializerVersion: 1,
});

/** Drop keys whose value is `undefined` (stores return them either way). */
const clean = <T>(v: T): T => (v === undefined ? v : JSON.parse(JSON.stringify(v)));

/** Check `store` (fresh and empty) against the contract. */
export async function checkMetadataContract(store: MetadataStore): Promise<void> {
  const base: RunRecord = {
    runId: "p-1",
    pipeline: "p",
    status: "running",
    stack: "s",
    params: { lr: 0.1, tags: ["a"], nested: { k: true } },
    startedAt: 1_700_000_000_000,
    pipelineHash: "ph",
    extra: { source: "file:///x/pipeline.ts" },
  };
  // Runs
  await store.createRun(base);
  await store.createRun({
    ...base,
    runId: "p-2",
    startedAt: base.startedAt + 10,
    status: "completed",
  });
  await store.createRun({ ...base, runId: "q-1", pipeline: "q", startedAt: base.startedAt + 20 });
  await assert.rejects(async () => await store.createRun(base), "a duplicate run id is refused");
  assert.deepEqual(clean(await store.getRun("p-1")), base);
  assert.equal(await store.getRun("nope"), undefined);
  await store.updateRun("p-1", { status: "failed", endedAt: base.startedAt + 5, error: "boom" });
  const upd = await store.getRun("p-1");
  assert.equal(upd?.status, "failed");
  assert.equal(upd?.endedAt, base.startedAt + 5);
  assert.equal(upd?.error, "boom");
  assert.deepEqual(upd?.params, base.params);
  await store.updateRun("p-1", { status: "running", endedAt: undefined, error: undefined });
  const resumed = await store.getRun("p-1");
  assert.equal(resumed?.endedAt, undefined);
  assert.equal(resumed?.error, undefined);
  await store.updateRun("p-1", { extra: { source: "y", n: 2 } });
  assert.deepEqual((await store.getRun("p-1"))?.extra, { source: "y", n: 2 });
  assert.deepEqual((await store.listRuns()).map((r) => r.runId), ["q-1", "p-2", "p-1"]);
  assert.deepEqual((await store.listRuns({ pipeline: "p" })).map((r) => r.runId), ["p-2", "p-1"]);
  assert.deepEqual((await store.listRuns({ status: "completed" })).map((r) => r.runId), ["p-2"]);
  assert.deepEqual((await store.listRuns({ limit: 1 })).map((r) => r.runId), ["q-1"]);

  // Step runs: upsert by (run, step), listed in first-insert order.
  await store.upsertStepRun({
    runId: "p-1",
    step: "b",
    status: "running",
    cached: false,
    attempts: 1,
  });
  await store.upsertStepRun({
    runId: "p-1",
    step: "a",
    status: "running",
    cached: false,
    attempts: 1,
  });
  await store.upsertStepRun({
    runId: "p-1",
    step: "b",
    status: "completed",
    cached: false,
    attempts: 2,
    startedAt: 1,
    endedAt: 3,
    durationMs: 2.5,
    worker: "host-1:42",
    cacheKey: "ck",
    outputs: { x: ref("a") },
  });
  await store.upsertStepRun({
    runId: "p-1",
    step: "a",
    status: "failed",
    cached: true,
    attempts: 3,
    error: "bad",
    errorStack: "Error: bad\n    at explode (file:///p.ts:1:1)",
  });
  const steps = await store.listStepRuns("p-1");
  assert.deepEqual(steps.map((s) => s.step), ["b", "a"]);
  assert.deepEqual(clean(steps[0]), {
    runId: "p-1",
    step: "b",
    status: "completed",
    cached: false,
    attempts: 2,
    startedAt: 1,
    endedAt: 3,
    durationMs: 2.5,
    worker: "host-1:42",
    cacheKey: "ck",
    outputs: { x: ref("a") },
  });
  assert.equal(steps[1].cached, true);
  assert.equal(steps[1].errorStack, "Error: bad\n    at explode (file:///p.ts:1:1)");
  assert.equal(steps[1].outputs, undefined);
  assert.deepEqual(await store.listStepRuns("p-2"), []);

  // Metrics: by run, or by name across runs, oldest first; completions carry them too.
  await store.logMetrics([
    { runId: "p-1", step: "b", name: "accuracy", value: 0.5, at: 1 },
    { runId: "p-1", step: "b", name: "loss", value: 1.25, at: 2 },
  ]);
  await store.recordStepCompletion({
    stepRun: { runId: "p-1", step: "c", status: "completed", cached: false, attempts: 1 },
    metrics: [{ runId: "p-1", step: "c", name: "accuracy", value: 0.75, at: 3 }],
  });
  assert.deepEqual(
    (await store.listMetrics({ runId: "p-1" })).map((m) => [m.step, m.name, m.value]),
    [["b", "accuracy", 0.5], ["b", "loss", 1.25], ["c", "accuracy", 0.75]],
  );
  assert.deepEqual((await store.listMetrics({ name: "accuracy" })).map((m) => m.value), [
    0.5,
    0.75,
  ]);
  assert.deepEqual(await store.listMetrics({ runId: "p-2" }), []);

  // Artifacts: keyed by (run, step, name); re-recording replaces.
  const a1 = {
    ...ref("b"),
    runId: "p-1",
    step: "b",
    name: "x",
    createdAt: 5,
    meta: { dtype: "f32" },
  };
  await store.recordArtifact(a1);
  await store.recordArtifact({ ...a1, createdAt: 6 });
  await store.recordArtifact({ ...ref("c"), runId: "p-1", step: "b", name: "w", createdAt: 6 });
  const arts = await store.listArtifacts("p-1");
  assert.equal(arts.length, 2);
  assert.deepEqual(arts.map((a) => a.name), ["w", "x"]);
  assert.deepEqual(clean(arts[1]), { ...a1, createdAt: 6 });
  assert.equal(arts[0].meta, undefined);

  // Lineage
  const e = (step: string, dir: "input" | "output", name: string, h: string, runId = "p-1") => ({
    runId,
    step,
    direction: dir,
    name,
    hash: ref(h).hash,
    uri: ref(h).uri,
  });
  await store.recordLineage([e("b", "output", "x", "a"), e("c", "input", "x", "a")]);
  await store.recordLineage([e("c", "output", "y", "d"), e("c", "output", "y", "d")]);
  await store.recordLineage([e("b", "output", "x", "a", "p-2")]);
  await store.recordLineage([]);
  assert.deepEqual(await store.getLineage({ runId: "p-1" }), [
    e("b", "output", "x", "a"),
    e("c", "input", "x", "a"),
    e("c", "output", "y", "d"),
  ]);
  assert.equal((await store.getLineage({ hash: ref("a").hash })).length, 3);
  assert.equal((await store.getLineage({ runId: "p-2", hash: ref("a").hash })).length, 1);

  // Cache entries: newest first; one per (run, step, key), so recording it again replaces it.
  const ce = {
    key: "k1",
    paramHashes: { lr: "h1" },
    readAllParams: false,
    outputs: { x: ref("a") },
    runId: "p-1",
    step: "b",
    createdAt: 10,
  };
  await store.putCacheEntry(ce);
  await store.putCacheEntry({
    ...ce,
    runId: "p-2",
    readAllParams: true,
    paramHashes: { "*": "h2" },
    createdAt: 11,
  });
  await store.putCacheEntry(ce);
  const found = await store.findCacheEntries("k1");
  assert.equal(found.length, 2);
  assert.equal(found[0].readAllParams, true);
  assert.deepEqual(clean(found[1]), ce);
  assert.deepEqual(await store.findCacheEntries("k2"), []);

  // Audit trail
  await store.recordAudit([
    { runId: "p-1", actor: "plug", op: "http", resource: "https://x", allowed: true, at: 1 },
    {
      runId: "p-1",
      actor: "plug",
      op: "read",
      resource: "/etc",
      allowed: false,
      detail: "denied",
      at: 2,
    },
  ]);
  await store.recordAudit([]);
  const audit = await store.listAudit("p-1");
  assert.deepEqual(audit.map((a) => [a.op, a.allowed, a.detail]), [["http", true, undefined], [
    "read",
    false,
    "denied",
  ]]);
  assert.deepEqual(await store.listAudit("p-2"), []);
  await checkExactlyOnce(store);
}

/**
 * A step completion is one idempotent unit: recording it twice (a resumed driver, a retried
 * commit) leaves one step record, one metric row per name, one cache entry and one artifact and
 * edge per name; a completed record is never downgraded; the run lease is a compare-and-set.
 */
async function checkExactlyOnce(store: MetadataStore): Promise<void> {
  await store.createRun({
    runId: "x-1",
    pipeline: "x",
    status: "running",
    stack: "s",
    params: {},
    startedAt: 1,
    lease: "L1",
  });
  const out = { ...ref("e"), runId: "x-1", step: "s1", name: "o", createdAt: 2 };
  const completion = (attempt: number, value: number) => ({
    stepRun: {
      runId: "x-1",
      step: "s1",
      status: "completed" as const,
      cached: false,
      attempts: attempt,
      outputs: { o: ref("e") },
    },
    artifacts: [out],
    lineage: [{ runId: "x-1", step: "s1", direction: "output" as const, name: "o", ...ref("e") }]
      .map(({ runId, step, direction, name, hash, uri }) => ({
        runId,
        step,
        direction,
        name,
        hash,
        uri,
      })),
    metrics: [{ runId: "x-1", step: "s1", name: "m", value, at: 3 }],
    cacheEntry: {
      key: "kx",
      paramHashes: {},
      readAllParams: false,
      outputs: { o: ref("e") },
      runId: "x-1",
      step: "s1",
      createdAt: 4,
    },
  });
  // Twice in one batch (same event-loop turn) and once more later.
  await Promise.all([
    store.recordStepCompletion(completion(1, 1)),
    store.recordStepCompletion(completion(1, 1)),
  ]);
  await store.recordStepCompletion(completion(2, 2));
  const steps = await store.listStepRuns("x-1");
  assert.equal(steps.length, 1);
  assert.equal(steps[0].attempts, 2);
  assert.deepEqual((await store.listMetrics({ runId: "x-1" })).map((m) => m.value), [2]);
  assert.equal((await store.findCacheEntries("kx")).length, 1);
  assert.equal((await store.listArtifacts("x-1")).length, 1);
  assert.equal((await store.getLineage({ runId: "x-1" })).length, 1);
  // A late "running" or a stale driver's "cancelled" never replaces a completed record.
  await store.upsertStepRun({
    runId: "x-1",
    step: "s1",
    status: "cancelled",
    cached: false,
    attempts: 3,
  });
  assert.equal((await store.listStepRuns("x-1"))[0].status, "completed");
  // Lease: only the holder's token updates; a claim names the token it replaces.
  assert.equal(await store.updateRunLeased("x-1", { heartbeatAt: 9 }, { lease: "L2" }), false);
  assert.equal(await store.updateRunLeased("x-1", { heartbeatAt: 9 }, { lease: "L1" }), true);
  assert.equal(await store.updateRunLeased("x-1", { lease: "L2" }, { lease: "L1" }), true);
  assert.equal(await store.updateRunLeased("x-1", { lease: "L3" }, { lease: "L1" }), false);
  const run = await store.getRun("x-1");
  assert.equal(run?.lease, "L2");
  assert.equal(run?.heartbeatAt, 9);
}
