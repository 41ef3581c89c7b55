/**
 * Row → record mappers shared by the SQL metadata stores (SQLite and
 * PostgreSQL), which use the same tables and column names. Each store passes
 * how it decodes a JSON column: SQLite stores JSON text, PostgreSQL jsonb
 * arrives parsed.
 * @module
 */
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

/** A database row: column name → value. */
export type Row = Record<string, unknown>;

/** Decodes a JSON column (text or already parsed); `undefined` for SQL NULL. */
export type JsonDecode = <T>(v: unknown) => T | undefined;

/** JSON text columns (SQLite). */
export const decodeJsonText: JsonDecode = <T>(v: unknown) =>
  v == null ? undefined : JSON.parse(String(v)) as T;

/** Already-parsed JSON columns (PostgreSQL jsonb). */
export const decodeJsonValue: JsonDecode = <T>(v: unknown) => (v ?? undefined) as T | undefined;

const num = (v: unknown) => (v == null ? undefined : Number(v));
const str = (v: unknown) => (v == null ? undefined : String(v));
/** Booleans: SQLite stores 0/1, PostgreSQL true/false. */
const bool = (v: unknown) => v === true || Number(v) === 1;

/** A `runs` row. */
export function toRun(r: Row, json: JsonDecode): RunRecord {
  return {
    runId: String(r.run_id),
    pipeline: String(r.pipeline),
    status: r.status as RunRecord["status"],
    stack: String(r.stack),
    params: json<Record<string, unknown>>(r.params) ?? {},
    startedAt: Number(r.started_at),
    endedAt: num(r.ended_at),
    error: str(r.error),
    pipelineHash: str(r.pipeline_hash),
    image: str(r.image),
    extra: json(r.extra),
    ...(r.pid != null ? { pid: Number(r.pid) } : {}),
    ...(r.host != null ? { host: String(r.host) } : {}),
    ...(r.heartbeat_at != null ? { heartbeatAt: Number(r.heartbeat_at) } : {}),
    ...(r.cache != null ? { cache: bool(r.cache) } : {}),
    ...(r.lease != null ? { lease: String(r.lease) } : {}),
  };
}

/** `runs` columns a run patch may set, by record field (shared by the SQL stores). */
export const RUN_PATCH_COLUMNS: Readonly<Record<string, string>> = {
  status: "status",
  endedAt: "ended_at",
  error: "error",
  image: "image",
  stack: "stack",
  pipelineHash: "pipeline_hash",
  pid: "pid",
  host: "host",
  heartbeatAt: "heartbeat_at",
  lease: "lease",
};

/** A `step_runs` row. */
export function toStepRun(r: Row, json: JsonDecode): StepRunRecord {
  return {
    runId: String(r.run_id),
    step: String(r.step),
    status: r.status as StepRunRecord["status"],
    startedAt: num(r.started_at),
    endedAt: num(r.ended_at),
    durationMs: num(r.duration_ms),
    cached: bool(r.cached),
    attempts: Number(r.attempts),
    error: str(r.error),
    errorStack: str(r.error_stack),
    worker: str(r.worker),
    cacheKey: str(r.cache_key),
    outputs: json(r.outputs),
  };
}

/** An `artifacts` row. */
export function toArtifact(r: Row, json: JsonDecode): ArtifactRecord {
  return {
    runId: String(r.run_id),
    step: String(r.step),
    name: String(r.name),
    hash: String(r.hash),
    path: String(r.path),
    uri: String(r.uri),
    size: Number(r.size),
    serializer: String(r.serializer),
    serializerVersion: Number(r.serializer_version),
    meta: json(r.meta),
    createdAt: Number(r.created_at),
    // An inline artifact (bytes in the `blobs` table) is recorded under `blobs/<hash>`.
    ...(String(r.path).startsWith("blobs/") ? { inline: true } : {}),
  };
}

/** A `lineage` row. */
export function toLineage(r: Row): LineageEdge {
  return {
    runId: String(r.run_id),
    step: String(r.step),
    direction: r.direction as LineageEdge["direction"],
    name: String(r.name),
    hash: String(r.hash),
    uri: String(r.uri),
  };
}

/** A `cache_entries` row. */
export function toCacheEntry(r: Row, json: JsonDecode): CacheEntry {
  return {
    key: String(r.key),
    step: String(r.step),
    runId: String(r.run_id),
    paramHashes: json<Record<string, string>>(r.param_hashes) ?? {},
    readAllParams: bool(r.read_all),
    outputs: json<CacheEntry["outputs"]>(r.outputs) ?? {},
    createdAt: Number(r.created_at),
  };
}

/** An `audit` row. */
export function toAudit(r: Row): AuditEvent {
  return {
    runId: String(r.run_id),
    actor: String(r.actor),
    op: String(r.op),
    resource: String(r.resource),
    allowed: bool(r.allowed),
    detail: str(r.detail),
    at: Number(r.at),
  };
}

/** A `metrics` row. */
export function toMetric(r: Row): MetricRecord {
  return {
    runId: String(r.run_id),
    step: String(r.step),
    name: String(r.name),
    value: Number(r.value),
    at: Number(r.at),
  };
}

/** A `step_logs` row. */
export function toStepLog(r: Row): StepLogLine {
  return {
    runId: String(r.run_id),
    step: String(r.step),
    attempt: Number(r.attempt),
    line: String(r.line),
    at: Number(r.at),
  };
}
