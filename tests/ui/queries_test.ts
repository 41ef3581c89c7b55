/**
 * The dashboard's read queries (`UiQueries`) and step logs, the same checks
 * on the SQLite store, on a real PostgreSQL 15 (skipped loudly when missing,
 * a failure under CI=true) and through the contract fallback.
 * @module
 */
import assert from "node:assert/strict";
import { requireService, tempDir } from "../_helpers.ts";
import { POSTGRES_HOW, postgresAvailable, startPostgres } from "../services/postgres.ts";
import { SQLiteMetadataStore } from "../../plugins/sqlite/metadata_store.ts";
import { PostgresMetadataStore } from "../../plugins/postgres/metadata_store.ts";
import { sqliteUiQueries } from "../../plugins/sqlite/ui_queries.ts";
import { postgresUiQueries } from "../../plugins/postgres/ui_queries.ts";
import { contractUiQueries, type UiQueries, uiQueriesFor } from "../../kernel/ui_queries.ts";
import "../../plugins/mod.ts";
import type { MetadataStore } from "../../kernel/metadata_store.ts";
import { keepsStepLogs, StepLogWriter } from "../../kernel/step_logs.ts";

const T0 = Date.UTC(2026, 0, 10);
const DAY = 86_400_000;

async function fill(meta: MetadataStore): Promise<void> {
  for (let i = 0; i < 12; i++) {
    const runId = `r${String(i).padStart(2, "0")}-x`;
    await meta.createRun({
      runId,
      pipeline: i % 3 === 0 ? "alpha" : "beta_%",
      status: i === 5 ? "failed" : "completed",
      stack: "local",
      params: { lr: i / 10, tag: i === 7 ? "needle" : "hay" },
      startedAt: T0 + i * DAY,
      endedAt: T0 + i * DAY + 1000,
    });
    for (const [s, status] of [["a", "completed"], ["b", i % 2 ? "cached" : "failed"]]) {
      await meta.upsertStepRun({
        runId,
        step: s,
        status: status as "completed",
        cached: status === "cached",
        attempts: s === "a" && i === 4 ? 3 : 1,
      });
    }
  }
  const hash = "ab".repeat(32);
  for (const runId of ["r01-x", "r02-x"]) {
    await meta.recordArtifact({
      runId,
      step: "a",
      name: "model",
      hash,
      path: `objects/ab/${hash}`,
      uri: `file:///x/${hash}`,
      size: 3,
      serializer: "json",
      serializerVersion: 1,
      createdAt: T0,
    });
    await meta.recordLineage([{
      runId,
      step: "a",
      direction: "output",
      name: "model",
      hash,
      uri: "file:///x",
    }]);
  }
  await meta.recordAudit([
    { runId: "r01-x", actor: "norm", op: "call", resource: "normalize", allowed: true, at: T0 },
    {
      runId: "r01-x",
      actor: "norm",
      op: "http.fetch",
      resource: "https://evil/",
      allowed: false,
      detail: "not granted",
      at: T0 + 1,
    },
    { runId: "r02-x", actor: "other", op: "call", resource: "x", allowed: true, at: T0 + 2 },
  ]);
}

async function check(q: UiQueries, meta: MetadataStore): Promise<void> {
  const all = await q.runsPage({});
  assert.equal(all.total, 12);
  assert.equal(all.runs[0].runId, "r11-x", "newest first");
  const r4 = (await q.runsPage({ search: "r04" })).runs[0];
  assert.deepEqual(
    [r4.counts.total, r4.counts.completed, r4.counts.failed, r4.counts.retried],
    [2, 1, 1, 1],
  );
  assert.equal((await q.runsPage({ pipeline: "alpha" })).total, 4);
  assert.equal((await q.runsPage({ pipeline: "beta_%" })).total, 8);
  assert.equal((await q.runsPage({ status: "failed" })).total, 1);
  assert.equal((await q.runsPage({ from: T0 + 10 * DAY })).total, 2);
  assert.equal((await q.runsPage({ from: T0 + 2 * DAY, to: T0 + 4 * DAY })).total, 2);
  assert.deepEqual((await q.runsPage({ search: "needle" })).runs.map((r) => r.runId), ["r07-x"]);
  assert.equal((await q.runsPage({ search: "%" })).total, 0, "LIKE wildcards are literal");
  const page2 = await q.runsPage({ offset: 5, limit: 5 });
  assert.deepEqual(page2.runs.map((r) => r.runId), ["r06-x", "r05-x", "r04-x", "r03-x", "r02-x"]);
  assert.equal(page2.total, 12);
  assert.deepEqual(await q.pipelines(), ["alpha", "beta_%"]);
  const v1 = await q.runVersion("r02-x");
  assert.equal(await q.runVersion("r02-x"), v1, "stable while nothing changes");
  await meta.upsertStepRun({
    runId: "r02-x",
    step: "b",
    status: "running",
    cached: false,
    attempts: 2,
  });
  const v2 = await q.runVersion("r02-x");
  assert.notEqual(v2, v1, "a step change changes the version");
  await meta.updateRun("r02-x", { status: "failed", endedAt: T0 + 5 });
  assert.notEqual(await q.runVersion("r02-x"), v2, "a run change changes the version");
  assert.deepEqual((await q.artifactsByHash("ab".repeat(32))).map((a) => a.runId), [
    "r01-x",
    "r02-x",
  ]);
  const audit = await q.auditPage({});
  assert.deepEqual([audit.total, audit.denied], [3, 1]);
  assert.deepEqual(audit.actors, ["norm", "other"]);
  assert.equal((await q.auditPage({ allowed: false })).events[0].resource, "https://evil/");
  assert.equal((await q.auditPage({ runId: "r01-x", op: "call" })).total, 1);
  assert.equal((await q.auditPage({ search: "granted" })).total, 1);
  assert.equal((await q.auditPage({ actor: "other" })).events[0].runId, "r02-x");
}

async function checkLogs(meta: MetadataStore): Promise<void> {
  assert.ok(keepsStepLogs(meta));
  const w = new StepLogWriter(meta, "r01-x");
  w.add("a", 1, "first");
  w.add("a", 2, "x".repeat(10_000));
  w.add("b", 1, "<b>other</b>");
  await w.flush();
  if (!keepsStepLogs(meta)) return;
  const a = await meta.listStepLogs("r01-x", "a");
  assert.deepEqual(a.map((l) => [l.attempt, l.line.length]), [[1, 5], [2, 4096]]);
  assert.equal((await meta.listStepLogs("r01-x")).length, 3);
}

Deno.test("ui queries and step logs: SQLite, and the contract fallback", async () => {
  const dir = await tempDir();
  const meta = new SQLiteMetadataStore({ path: `${dir.path}/m.db` });
  try {
    await fill(meta);
    await check(sqliteUiQueries(meta), meta);
    await checkLogs(meta);
    const other = new SQLiteMetadataStore({ path: `${dir.path}/n.db` });
    await fill(other);
    await check(contractUiQueries(other), other);
    other.close();
  } finally {
    meta.close();
    await dir.cleanup();
  }
});

Deno.test("ui queries: a store's type picks its own (a register.ts hook), else the contract's", async () => {
  const dir = await tempDir();
  const meta = new SQLiteMetadataStore({ path: `${dir.path}/m.db` });
  const other = new SQLiteMetadataStore({ path: `${dir.path}/n.db` });
  // A store whose type declared no queries (no register.ts hook).
  Object.defineProperty(other, "constructor", { value: { type: "unregistered-sql" } });
  try {
    await fill(meta);
    const picked = await uiQueriesFor(meta);
    assert.equal(String(picked.runsPage), String(sqliteUiQueries(meta).runsPage));
    await check(picked, meta);
    const fallback = await uiQueriesFor(other);
    assert.equal(String(fallback.runsPage), String(contractUiQueries(other).runsPage));
  } finally {
    meta.close();
    other.close();
    await dir.cleanup();
  }
});

const pgOk = requireService("PostgreSQL 15", postgresAvailable(), POSTGRES_HOW);

Deno.test({
  name: "ui queries and step logs: PostgreSQL",
  ignore: !pgOk,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const pg = await startPostgres();
    const meta = new PostgresMetadataStore({ url: await pg.createDatabase("ui_queries") });
    try {
      await fill(meta);
      await check(postgresUiQueries(meta), meta);
      await checkLogs(meta);
    } finally {
      await meta.close();
      await pg.stop();
    }
  },
});
