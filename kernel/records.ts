/**
 * Plain data records shared between the engine, the metadata stores and the
 * CLI. Everything here is JSON-serializable so it can cross process and
 * machine boundaries (queue workers, WASM plugins).
 * @module
 */

/**
 * Status of a run. `crashed` is never written: readers show a `running` run
 * as `crashed` when the process driving it is gone (see kernel/run_liveness.ts).
 */
export type RunStatus = "pending" | "running" | "completed" | "failed" | "cancelled" | "crashed";

/** Status of one step within a run; `cancelled` when the run was cancelled while it ran. */
export type StepStatus =
  | "pending"
  | "running"
  | "completed"
  | "failed"
  | "skipped"
  | "cached"
  | "cancelled";

/** A reference to a stored, content-addressed artifact. */
export interface ArtifactRef {
  /** sha256 of the serialized bytes, hex. */
  hash: string;
  /** Path inside the artifact store, e.g. `objects/ab/ab12…`. */
  path: string;
  /** Full URI, e.g. `file:///…/objects/ab/ab12…` or `s3://bucket/…`. */
  uri: string;
  /** Size of the serialized bytes. */
  size: number;
  /** Serializer name used, e.g. `json`, `typed_array`. */
  serializer: string;
  /** Serializer version (part of the cache key). */
  serializerVersion: number;
  /** Serializer-specific data needed to load (e.g. the typed-array type). */
  meta?: Record<string, unknown>;
  /**
   * `true` for a small artifact stored inline in the metadata store's blob
   * table (path `blobs/<hash>`) instead of in the artifact store.
   */
  inline?: boolean;
}

/** A pipeline run. */
export interface RunRecord {
  /** Unique id of the run. */
  runId: string;
  /** Name of the pipeline that ran. */
  pipeline: string;
  /** Current status; `running` until the run ends. */
  status: RunStatus;
  /** Name of the stack the run used. */
  stack: string;
  /** Run parameters as passed to `run()` (or `--param` on the CLI). */
  params: Record<string, unknown>;
  /** When the run started, ms since the Unix epoch. */
  startedAt: number;
  /** When the run ended, ms since the Unix epoch; unset while it runs. */
  endedAt?: number;
  /** Message of the first step error, when the run failed. */
  error?: string;
  /** Hash of the pipeline definition (step code + wiring). */
  pipelineHash?: string;
  /** Image digest the run used, when built by an image build. */
  image?: string;
  /** Free-form extras (e.g. the module specifier for remote workers). */
  extra?: Record<string, unknown>;
  /** Process id of the process driving the run (its engine), while it runs. */
  pid?: number;
  /** Host name of that process, when it may read it (`--allow-sys=hostname`). */
  host?: string;
  /** Last heartbeat of the driving process, ms since the Unix epoch (see docs/runs.md). */
  heartbeatAt?: number;
  /** `false` when the run ignores the step cache (`--no-cache`); kept by `runs resume`. */
  cache?: boolean;
  /**
   * Lease token of the process driving the run: one driver at a time. A driver
   * writes only while the run still holds its token (see docs/scale_out.md).
   */
  lease?: string;
}

/** One step's execution within a run. */
export interface StepRunRecord {
  /** Run this step belongs to. */
  runId: string;
  /** Step name (unique within the pipeline). */
  step: string;
  /** Current status; `cached` when outputs were reused from an earlier run. */
  status: StepStatus;
  /** When the first attempt started, ms since the Unix epoch. */
  startedAt?: number;
  /** When the step finished, ms since the Unix epoch. */
  endedAt?: number;
  /** Wall time of the step in ms, from first attempt to finish (retries included). */
  durationMs?: number;
  /** True when outputs came from the step cache instead of running the step. */
  cached: boolean;
  /** Attempts made so far (0 when skipped or cached). */
  attempts: number;
  /** Message of the last failure, if any. */
  error?: string;
  /** Stack trace of the last failure, if any. */
  errorStack?: string;
  /** Who ran it: `local`, a queue worker id, a plugin name. */
  worker?: string;
  /** Cache key of this execution (see {@linkcode CacheEntry.key}). */
  cacheKey?: string;
  /** Stored outputs by artifact name, once the step completed. */
  outputs?: Record<string, ArtifactRef>;
}

/** A lineage edge: a step produced or consumed an artifact. */
export interface LineageEdge {
  /** Run the edge belongs to. */
  runId: string;
  /** Step that consumed or produced the artifact. */
  step: string;
  /** `input`: the step consumed the artifact; `output`: it produced it. */
  direction: "input" | "output";
  /** Input/output name in the pipeline. */
  name: string;
  /** sha256 (hex) of the artifact's serialized bytes. */
  hash: string;
  /** Full URI of the stored artifact. */
  uri: string;
}

/** A stored artifact, as recorded in metadata. */
export interface ArtifactRecord extends ArtifactRef {
  /** Run that produced the artifact. */
  runId: string;
  /** Step that produced the artifact. */
  step: string;
  /** Output name in the pipeline. */
  name: string;
  /** When it was recorded, ms since the Unix epoch. */
  createdAt: number;
}

/** A cache entry written after a step completes. */
export interface CacheEntry {
  /** Hash of step code, input hashes and serializer versions. */
  key: string;
  /** The params the step read, with their value hashes, at the time it ran. */
  paramHashes: Record<string, string>;
  /** True when the step read all params (e.g. enumerated them). */
  readAllParams: boolean;
  /** The step's stored outputs by name, reused on a cache hit. */
  outputs: Record<string, ArtifactRef>;
  /** Run that produced the outputs. */
  runId: string;
  /** Step that produced the outputs. */
  step: string;
  /** When the entry was written, ms since the Unix epoch. */
  createdAt: number;
}

/** One brokered call or policy decision, kept for `runs show --audit`. */
export interface AuditEvent {
  /** Run during which the call happened. */
  runId: string;
  /** Plugin or component that made the call. */
  actor: string;
  /** Operation, e.g. `call`, `artifacts.get`, `http.fetch`. */
  op: string;
  /** What the operation touched: an artifact path, URL, env var or export name. */
  resource: string;
  /** Whether the call was permitted by the grants. */
  allowed: boolean;
  /** Why it was denied, or extra detail (e.g. a call's error), when any. */
  detail?: string;
  /** When it happened, ms since the Unix epoch. */
  at: number;
}

/** A numeric metric a step (or a sandboxed plugin) logged, e.g. an accuracy. */
export interface MetricRecord {
  /** Run the metric belongs to. */
  runId: string;
  /** Step that logged it. */
  step: string;
  /** Metric name, e.g. `accuracy`. */
  name: string;
  /** Its value. */
  value: number;
  /** When it was logged, ms since the Unix epoch. */
  at: number;
}

/** Filters for {@linkcode MetadataStore.listRuns}. */
export interface RunQuery {
  /** Only runs of this pipeline. */
  pipeline?: string;
  /** Only runs with this status. */
  status?: RunStatus;
  /** Max runs to return, newest first (when unset the store's default applies; SQLite: 50). */
  limit?: number;
}
