/**
 * Plain data records shared between the engine, the metadata stores and the
 * CLI. Everything here is JSON-serializable so it can cross process and
 * machine boundaries (queue workers, WASM plugins).
 * @module
 */

/** Status of a run. */
export type RunStatus = "pending" | "running" | "completed" | "failed" | "cancelled";

/** Status of one step within a run. */
export type StepStatus = "pending" | "running" | "completed" | "failed" | "skipped" | "cached";

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
}

/** A pipeline run. */
export interface RunRecord {
  runId: string;
  pipeline: string;
  status: RunStatus;
  stack: string;
  params: Record<string, unknown>;
  startedAt: number;
  endedAt?: number;
  error?: string;
  /** Hash of the pipeline definition (step code + wiring). */
  pipelineHash?: string;
  /** Image digest the run used, when built by an image build. */
  image?: string;
  /** Free-form extras (e.g. the module specifier for remote workers). */
  extra?: Record<string, unknown>;
}

/** One step's execution within a run. */
export interface StepRunRecord {
  runId: string;
  step: string;
  status: StepStatus;
  startedAt?: number;
  endedAt?: number;
  durationMs?: number;
  cached: boolean;
  attempts: number;
  error?: string;
  /** Stack trace of the last failure, if any. */
  errorStack?: string;
  /** Who ran it: `local`, a queue worker id, a plugin name. */
  worker?: string;
  cacheKey?: string;
  outputs?: Record<string, ArtifactRef>;
}

/** A lineage edge: a step produced or consumed an artifact. */
export interface LineageEdge {
  runId: string;
  step: string;
  direction: "input" | "output";
  /** Input/output name in the pipeline. */
  name: string;
  hash: string;
  uri: string;
}

/** A stored artifact, as recorded in metadata. */
export interface ArtifactRecord extends ArtifactRef {
  runId: string;
  step: string;
  name: string;
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
  outputs: Record<string, ArtifactRef>;
  runId: string;
  step: string;
  createdAt: number;
}

/** One brokered call or policy decision, kept for `runs show --audit`. */
export interface AuditEvent {
  runId: string;
  /** Plugin or component that made the call. */
  actor: string;
  op: string;
  resource: string;
  allowed: boolean;
  detail?: string;
  at: number;
}

/** Filters for {@linkcode MetadataStore.listRuns}. */
export interface RunQuery {
  pipeline?: string;
  status?: RunStatus;
  limit?: number;
}
