/**
 * Step completions in PostgreSQL as one idempotent unit: the step record, its
 * artifacts, lineage, cache entry and metrics of every completion in a batch
 * go to the server as ONE statement (data-modifying CTEs over `jsonb`
 * arrays), so they are committed together or not at all, in one round trip.
 * Every row is an upsert on its natural key, so recording the same
 * completion twice (a resumed driver, a retried commit) leaves one row each.
 * @module
 */
import type postgres from "postgres";
import { Buffer } from "node:buffer";
import type { StepCompletion } from "../../kernel/contracts.ts";

type Sql = postgres.Sql;
type Obj = Record<string, unknown>;

/** Rows keyed by `key`, the last one winning (one statement may not upsert a row twice). */
function unique<T>(items: T[], key: (t: T) => unknown[]): T[] {
  const m = new Map<string, T>();
  for (const t of items) m.set(JSON.stringify(key(t)), t);
  return [...m.values()];
}

/** The jsonb arrays of a batch of completions, deduplicated by each table's key. */
function completionRows(list: StepCompletion[]): Record<string, Obj[]> {
  const steps = unique(list.map((c) => c.stepRun), (s) => [s.runId, s.step]).map((s) => ({
    run_id: s.runId,
    step: s.step,
    status: s.status,
    started_at: s.startedAt ?? null,
    ended_at: s.endedAt ?? null,
    duration_ms: s.durationMs ?? null,
    cached: s.cached,
    attempts: s.attempts,
    error: s.error ?? null,
    error_stack: s.errorStack ?? null,
    worker: s.worker ?? null,
    cache_key: s.cacheKey ?? null,
    outputs: s.outputs ?? null,
  }));
  const artifacts = unique(list.flatMap((c) => c.artifacts ?? []), (a) => [
    a.runId,
    a.step,
    a.name,
  ]).map((a) => ({
    run_id: a.runId,
    step: a.step,
    name: a.name,
    hash: a.hash,
    path: a.path,
    uri: a.uri,
    size: a.size,
    serializer: a.serializer,
    serializer_version: a.serializerVersion,
    meta: a.meta ?? null,
    created_at: a.createdAt,
  }));
  const lineage = unique(list.flatMap((c) => c.lineage ?? []), (e) => [
    e.runId,
    e.step,
    e.direction,
    e.name,
  ]).map((e) => ({
    run_id: e.runId,
    step: e.step,
    direction: e.direction,
    name: e.name,
    hash: e.hash,
    uri: e.uri,
  }));
  const metrics = unique(list.flatMap((c) => c.metrics ?? []), (m) => [m.runId, m.step, m.name])
    .map((m) => ({ run_id: m.runId, step: m.step, name: m.name, value: m.value, at: m.at }));
  const cache = unique(
    list.flatMap((c) => (c.cacheEntry ? [c.cacheEntry] : [])),
    (e) => [e.runId, e.step, e.key],
  ).map((e) => ({
    key: e.key,
    step: e.step,
    run_id: e.runId,
    param_hashes: e.paramHashes,
    read_all: e.readAllParams,
    outputs: e.outputs,
    created_at: e.createdAt,
  }));
  return { steps, artifacts, lineage, metrics, cache };
}

/**
 * Record a batch of completions in one statement (atomic: a statement is its own transaction),
 * with `options.blobs`: inline artifacts staged before them (base64 in the jsonb, decoded to
 * `bytea` by the server).
 */
export async function writeCompletions(
  sql: Sql,
  list: StepCompletion[],
  options: { blobs?: Map<string, Uint8Array> } = {},
): Promise<void> {
  const r = completionRows(list);
  const now = Date.now();
  const blobs = [...(options.blobs ?? [])].map(([hash, bytes]) => ({
    hash,
    b64: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64"),
    size: bytes.byteLength,
    created_at: now,
  }));
  const j = (v: Obj[]) => sql.json(v as unknown as postgres.JSONValue);
  await sql`
    WITH bl AS (
      INSERT INTO blobs (hash, bytes, size, created_at)
      SELECT x.hash, decode(x.b64, 'base64'), x.size, x.created_at
      FROM jsonb_to_recordset(${j(blobs)}::jsonb) AS x(hash text, b64 text, size bigint,
        created_at bigint)
      ON CONFLICT (hash) DO UPDATE SET bytes = excluded.bytes, size = excluded.size
      RETURNING 1
    ), sr AS (
      INSERT INTO step_runs (run_id, step, status, started_at, ended_at, duration_ms, cached,
        attempts, error, error_stack, worker, cache_key, outputs)
      SELECT * FROM jsonb_to_recordset(${j(r.steps)}::jsonb) AS x(run_id text, step text,
        status text, started_at bigint, ended_at bigint, duration_ms double precision,
        cached boolean, attempts integer, error text, error_stack text, worker text,
        cache_key text, outputs jsonb)
      ON CONFLICT (run_id, step) DO UPDATE SET status = excluded.status,
        started_at = excluded.started_at, ended_at = excluded.ended_at,
        duration_ms = excluded.duration_ms, cached = excluded.cached,
        attempts = excluded.attempts, error = excluded.error, error_stack = excluded.error_stack,
        worker = excluded.worker, cache_key = excluded.cache_key, outputs = excluded.outputs
      WHERE step_runs.status NOT IN ('completed', 'cached')
        OR excluded.status IN ('completed', 'cached')
      RETURNING 1
    ), art AS (
      INSERT INTO artifacts (run_id, step, name, hash, path, uri, size, serializer,
        serializer_version, meta, created_at)
      SELECT * FROM jsonb_to_recordset(${j(r.artifacts)}::jsonb) AS x(run_id text, step text,
        name text, hash text, path text, uri text, size bigint, serializer text,
        serializer_version integer, meta jsonb, created_at bigint)
      ON CONFLICT (run_id, step, name) DO UPDATE SET hash = excluded.hash, path = excluded.path,
        uri = excluded.uri, size = excluded.size, serializer = excluded.serializer,
        serializer_version = excluded.serializer_version, meta = excluded.meta,
        created_at = excluded.created_at
      RETURNING 1
    ), lin AS (
      INSERT INTO lineage (run_id, step, direction, name, hash, uri)
      SELECT * FROM jsonb_to_recordset(${j(r.lineage)}::jsonb) AS x(run_id text, step text,
        direction text, name text, hash text, uri text)
      ON CONFLICT (run_id, step, direction, name) DO UPDATE SET hash = excluded.hash,
        uri = excluded.uri
      RETURNING 1
    ), met AS (
      INSERT INTO metrics (run_id, step, name, value, at)
      SELECT * FROM jsonb_to_recordset(${j(r.metrics)}::jsonb) AS x(run_id text, step text,
        name text, value double precision, at bigint)
      ON CONFLICT (run_id, step, name) DO UPDATE SET value = excluded.value, at = excluded.at
      RETURNING 1
    ), ce AS (
      INSERT INTO cache_entries (key, step, run_id, param_hashes, read_all, outputs, created_at)
      SELECT * FROM jsonb_to_recordset(${j(r.cache)}::jsonb) AS x(key text, step text,
        run_id text, param_hashes jsonb, read_all boolean, outputs jsonb, created_at bigint)
      ON CONFLICT (run_id, step, key) DO UPDATE SET param_hashes = excluded.param_hashes,
        read_all = excluded.read_all, outputs = excluded.outputs, created_at = excluded.created_at
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM sr) AS steps`;
}
