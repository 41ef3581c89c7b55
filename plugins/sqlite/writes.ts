/**
 * Every statement the SQLite metadata store writes with, one function per
 * kind of record (runs, step runs, artifacts, lineage, cache entries, audit
 * events, metrics, step log lines), run through the store's {@linkcode Exec};
 * and the transactions that group them: a batch of step completions with the
 * inline blobs staged before them (what group_commit.ts commits), and a batch
 * of step log lines.
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import type { StepCompletion } from "../../kernel/contracts.ts";
import type {
  ArtifactRecord,
  AuditEvent,
  CacheEntry,
  LineageEdge,
  MetricRecord,
  RunRecord,
  StepRunRecord,
} from "../../kernel/records.ts";
import type { StepLogLine } from "../../kernel/step_logs.ts";
import { type Row, RUN_PATCH_COLUMNS } from "../_sql/rows.ts";

/** Runs one write (a cached prepared statement, errors explained); returns the rows changed. */
export type Exec = (sql: string, ...args: unknown[]) => number;

const j = (v: unknown) => (v === undefined ? null : JSON.stringify(v));

/** `fn` in one immediate transaction: committed, or rolled back and its error rethrown. */
function transaction(db: DatabaseSync, fn: () => void): void {
  db.exec("BEGIN IMMEDIATE");
  try {
    fn();
    db.exec("COMMIT");
  } catch (err) {
    db.exec("ROLLBACK");
    throw err;
  }
}

/** Inserts the run; fails if the run id already exists. */
export function insertRun(exec: Exec, r: RunRecord): void {
  exec(
    `INSERT INTO runs (run_id, pipeline, status, stack, params, started_at, ended_at, error, pipeline_hash, image, extra,
       pid, host, heartbeat_at, cache, lease)
     VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
    r.runId,
    r.pipeline,
    r.status,
    r.stack,
    j(r.params),
    r.startedAt,
    r.endedAt ?? null,
    r.error ?? null,
    r.pipelineHash ?? null,
    r.image ?? null,
    j(r.extra),
    r.pid ?? null,
    r.host ?? null,
    r.heartbeatAt ?? null,
    r.cache === undefined ? null : r.cache ? 1 : 0,
    r.lease ?? null,
  );
}

/**
 * Sets only the columns whose fields appear in `patch`; with `lease`, only while the run holds
 * that lease token. Returns the rows changed (0 or 1).
 */
export function updateRun(
  exec: Exec,
  runId: string,
  patch: Partial<RunRecord>,
  lease?: string | null,
): number {
  const sets: string[] = [];
  const vals: unknown[] = [];
  if ("cache" in patch) {
    sets.push("cache = ?");
    vals.push(patch.cache === undefined ? null : patch.cache ? 1 : 0);
  }
  for (const [k, c] of Object.entries(RUN_PATCH_COLUMNS)) {
    if (k in patch) {
      sets.push(`${c} = ?`);
      vals.push((patch as Row)[k] ?? null);
    }
  }
  if ("extra" in patch) {
    sets.push("extra = ?");
    vals.push(j(patch.extra));
  }
  if (!sets.length) sets.push("run_id = run_id");
  const where = lease === undefined ? "" : " AND lease IS ?";
  const args = lease === undefined ? [runId] : [runId, lease];
  return exec(
    `UPDATE runs SET ${sets.join(", ")} WHERE run_id = ?${where}`,
    ...vals,
    ...args,
  );
}

/**
 * Inserts or replaces the row keyed by run id and step name. A completed (or cached) record is
 * never replaced by an unfinished one (a late "running", a stale driver's "cancelled").
 */
export function upsertStepRun(exec: Exec, s: StepRunRecord): void {
  exec(
    `INSERT INTO step_runs (run_id, step, status, started_at, ended_at, duration_ms, cached, attempts, error,
       error_stack, worker, cache_key, outputs)
     VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)
     ON CONFLICT (run_id, step) DO UPDATE SET status=excluded.status, started_at=excluded.started_at,
       ended_at=excluded.ended_at, duration_ms=excluded.duration_ms, cached=excluded.cached,
       attempts=excluded.attempts, error=excluded.error, error_stack=excluded.error_stack,
       worker=excluded.worker, cache_key=excluded.cache_key, outputs=excluded.outputs
     WHERE step_runs.status NOT IN ('completed', 'cached') OR excluded.status IN ('completed', 'cached')`,
    s.runId,
    s.step,
    s.status,
    s.startedAt ?? null,
    s.endedAt ?? null,
    s.durationMs ?? null,
    s.cached ? 1 : 0,
    s.attempts,
    s.error ?? null,
    s.errorStack ?? null,
    s.worker ?? null,
    s.cacheKey ?? null,
    j(s.outputs),
  );
}

/** Inserts or replaces the artifact row (keyed by run, step and name). */
export function replaceArtifact(exec: Exec, a: ArtifactRecord): void {
  exec(
    `INSERT OR REPLACE INTO artifacts (run_id, step, name, hash, path, uri, size, serializer, serializer_version,
       meta, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
    a.runId,
    a.step,
    a.name,
    a.hash,
    a.path,
    a.uri,
    a.size,
    a.serializer,
    a.serializerVersion,
    j(a.meta),
    a.createdAt,
  );
}

/** Inserts the edges; an edge recorded twice is stored once. */
export function replaceLineage(exec: Exec, edges: LineageEdge[]): void {
  for (const e of edges) {
    exec(
      "INSERT OR REPLACE INTO lineage (run_id, step, direction, name, hash, uri) VALUES (?,?,?,?,?,?)",
      e.runId,
      e.step,
      e.direction,
      e.name,
      e.hash,
      e.uri,
    );
  }
}

/**
 * Inserts a cache entry; several entries may share a key (different params, other runs). One
 * entry per (run, step, key): recording it again replaces it.
 */
export function upsertCacheEntry(exec: Exec, e: CacheEntry): void {
  exec(
    `INSERT INTO cache_entries (key, step, run_id, param_hashes, read_all, outputs, created_at)
     VALUES (?,?,?,?,?,?,?)
     ON CONFLICT (run_id, step, key) DO UPDATE SET param_hashes=excluded.param_hashes,
       read_all=excluded.read_all, outputs=excluded.outputs, created_at=excluded.created_at`,
    e.key,
    e.step,
    e.runId,
    j(e.paramHashes),
    e.readAllParams ? 1 : 0,
    j(e.outputs),
    e.createdAt,
  );
}

/** Appends the audit events. */
export function insertAudit(exec: Exec, events: AuditEvent[]): void {
  for (const e of events) {
    exec(
      "INSERT INTO audit (run_id, actor, op, resource, allowed, detail, at) VALUES (?,?,?,?,?,?,?)",
      e.runId,
      e.actor,
      e.op,
      e.resource,
      e.allowed ? 1 : 0,
      e.detail ?? null,
      e.at,
    );
  }
}

/** Inserts each metric; one row per (run, step, name): logging a name again replaces its value. */
export function upsertMetrics(exec: Exec, metrics: MetricRecord[]): void {
  for (const m of metrics) {
    exec(
      `INSERT INTO metrics (run_id, step, name, value, at) VALUES (?,?,?,?,?)
       ON CONFLICT (run_id, step, name) DO UPDATE SET value=excluded.value, at=excluded.at`,
      m.runId,
      m.step,
      m.name,
      m.value,
      m.at,
    );
  }
}

/**
 * One transaction (group_commit.ts's `CommitFn`): the staged inline blobs first, then each
 * completion's artifacts, lineage, step run, cache entry and metrics, so no committed record
 * names a blob that was not committed with or before it.
 */
export function commitCompletions(
  db: DatabaseSync,
  exec: Exec,
  list: StepCompletion[],
  blobs: Map<string, Uint8Array>,
): void {
  transaction(db, () => {
    const now = Date.now();
    for (const [hash, bytes] of blobs) {
      exec(
        "INSERT OR REPLACE INTO blobs (hash, bytes, size, created_at) VALUES (?,?,?,?)",
        hash,
        bytes,
        bytes.byteLength,
        now,
      );
    }
    for (const c of list) {
      for (const a of c.artifacts ?? []) replaceArtifact(exec, a);
      if (c.lineage?.length) replaceLineage(exec, c.lineage);
      upsertStepRun(exec, c.stepRun);
      if (c.cacheEntry) upsertCacheEntry(exec, c.cacheEntry);
      if (c.metrics?.length) upsertMetrics(exec, c.metrics);
    }
  });
}

/** Appends step log lines in one transaction (kernel/step_logs.ts). */
export function insertStepLogs(db: DatabaseSync, exec: Exec, lines: StepLogLine[]): void {
  transaction(db, () => {
    for (const l of lines) {
      exec(
        "INSERT INTO step_logs (run_id, step, attempt, line, at) VALUES (?,?,?,?,?)",
        l.runId,
        l.step,
        l.attempt,
        l.line,
        l.at,
      );
    }
  });
}
