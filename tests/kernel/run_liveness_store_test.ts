/**
 * Migration 4 (run liveness and the run's cache setting) on both SQL stores:
 * pid, host, heartbeat and cache round-trip through createRun/updateRun, and
 * `withLiveStatus` judges a run by them. PostgreSQL is a real server.
 */
import assert from "node:assert/strict";
import { requireService, tempDir } from "../_helpers.ts";
import { POSTGRES_HOW, postgresAvailable, startPostgres } from "../services/postgres.ts";
import type { MetadataStore } from "../../kernel/metadata_store.ts";
import { SQLiteMetadataStore } from "../../plugins/sqlite/metadata_store.ts";
import { PostgresMetadataStore } from "../../plugins/postgres/metadata_store.ts";
import { MIGRATIONS as PG } from "../../plugins/postgres/migrations.ts";
import { MIGRATIONS as SQLITE } from "../../plugins/sqlite/migrations.ts";
import { runLiveness, withLiveStatus } from "../../kernel/run_liveness.ts";

async function checkLivenessColumns(meta: MetadataStore): Promise<void> {
  const now = Date.now();
  await meta.createRun({
    runId: "r1",
    pipeline: "p",
    status: "running",
    stack: "s",
    params: {},
    startedAt: now - 60_000,
    pid: 4242,
    host: "elsewhere.invalid",
    heartbeatAt: now - 30_000,
    cache: false,
  });
  let r = (await meta.getRun("r1"))!;
  assert.equal(r.pid, 4242);
  assert.equal(r.host, "elsewhere.invalid");
  assert.equal(r.heartbeatAt, now - 30_000);
  assert.equal(r.cache, false);
  assert.equal(runLiveness(r, { now, staleMs: 10_000, host: "here" }), "crashed");
  assert.equal(runLiveness(r, { now, staleMs: 60_000, host: "here" }), "alive");
  assert.equal(withLiveStatus(r, { now, staleMs: 10_000, host: "here" }).status, "crashed");
  await meta.updateRun("r1", { heartbeatAt: now, cache: true });
  r = (await meta.getRun("r1"))!;
  assert.equal(r.heartbeatAt, now);
  assert.equal(r.cache, true);
  assert.equal(runLiveness(r, { now, staleMs: 10_000, host: "here" }), "alive");
  await meta.updateRun("r1", { status: "completed", endedAt: now });
  assert.equal(runLiveness((await meta.getRun("r1"))!, { now, staleMs: 1 }), "finished");
  // A run recorded without liveness columns is judged by its start time.
  await meta.createRun({
    runId: "r0",
    pipeline: "p",
    status: "running",
    stack: "s",
    params: {},
    startedAt: now - 120_000,
  });
  assert.equal(runLiveness((await meta.getRun("r0"))!, { now, staleMs: 60_000 }), "crashed");
}

Deno.test("run liveness columns: SQLite store (migration 4)", async () => {
  const dir = await tempDir();
  const store = new SQLiteMetadataStore({ path: `${dir.path}/m.db` });
  try {
    assert.equal(store.schemaVersion(), SQLITE.length);
    await checkLivenessColumns(store);
  } finally {
    store.close();
    await dir.cleanup();
  }
});

const pgHere = requireService("PostgreSQL 15", postgresAvailable(), POSTGRES_HOW);

Deno.test({
  name: "run liveness columns: PostgreSQL store (migration 4)",
  ignore: !pgHere,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const pg = await startPostgres();
    const store = new PostgresMetadataStore({ url: await pg.createDatabase("liveness") });
    try {
      assert.equal(await store.schemaVersion(), PG.length);
      assert.equal(PG.length, SQLITE.length, "both stores at the same schema version");
      await checkLivenessColumns(store);
    } finally {
      await store.close();
      await pg.stop();
    }
  },
});
