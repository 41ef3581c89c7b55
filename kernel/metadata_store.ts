/**
 * The metadata store contract: {@linkcode MetadataStore}, which records runs,
 * step runs, artifacts, lineage, the step cache, metrics and the audit trail,
 * with defaults for leased run updates, step completions and inline artifact
 * blobs; plus what a step completion records ({@linkcode StepCompletion},
 * {@linkcode RecordCompletionOptions}).
 * @module
 */
import { StackComponent } from "./component.ts";
import type {
  ArtifactRecord,
  AuditEvent,
  CacheEntry,
  LineageEdge,
  MetricRecord,
  RunQuery,
  RunRecord,
  StepRunRecord,
} from "./records.ts";
import { notSupported } from "./contract_defaults.ts";

/**
 * Tracks runs, step runs, artifacts and lineage (which step produced each
 * artifact and which artifacts each step consumed), the step cache and the
 * audit trail of brokered plugin calls.
 */
export abstract class MetadataStore extends StackComponent {
  /** Registry kind of every metadata store. */
  static override readonly kind = "metadata_store" as const;
  /** Record a new run. */
  abstract createRun(run: RunRecord): Promise<void>;
  /** Merge `patch` into an existing run (e.g. its final status and `endedAt`). */
  abstract updateRun(runId: string, patch: Partial<RunRecord>): Promise<void>;
  /** A run by id, or `undefined` when unknown. */
  abstract getRun(runId: string): Promise<RunRecord | undefined>;
  /** Runs matching `query`, newest first. */
  abstract listRuns(query?: RunQuery): Promise<RunRecord[]>;
  /** Insert or replace a step run (keyed by run id and step name). */
  abstract upsertStepRun(record: StepRunRecord): Promise<void>;
  /** Step runs of a run. */
  abstract listStepRuns(runId: string): Promise<StepRunRecord[]>;
  /** Record a stored artifact. */
  abstract recordArtifact(record: ArtifactRecord): Promise<void>;
  /** Artifacts a run recorded. */
  abstract listArtifacts(runId: string): Promise<ArtifactRecord[]>;
  /** Record lineage edges (recording the same edge again is harmless). */
  abstract recordLineage(edges: LineageEdge[]): Promise<void>;
  /** Lineage of a run; with `hash`, every edge touching that artifact in any run. */
  abstract getLineage(query: { runId?: string; hash?: string }): Promise<LineageEdge[]>;
  /** Record a cache entry (used by later runs to skip the step). */
  abstract putCacheEntry(entry: CacheEntry): Promise<void>;
  /** Cache entries for a key, newest first. */
  abstract findCacheEntries(key: string): Promise<CacheEntry[]>;
  /** Append audit events (brokered plugin calls and policy decisions). */
  abstract recordAudit(events: AuditEvent[]): Promise<void>;
  /** Audit events of a run, oldest first. */
  abstract listAudit(runId: string): Promise<AuditEvent[]>;
  /** Record step metrics. */
  abstract logMetrics(metrics: MetricRecord[]): Promise<void>;
  /** Metrics of a run (narrowed to one `step`), or with `name` one metric across runs, oldest first. */
  abstract listMetrics(
    query: { runId?: string; step?: string; name?: string },
  ): Promise<MetricRecord[]>;

  /**
   * Apply `patch` to the run only while it holds the lease token `lease`
   * (`null`: no lease yet); `true` when the row changed. Drivers claim a run
   * (patch `{ lease: mine }` expecting the old token), renew it with their
   * heartbeat and record its end through this. SQL stores do it in one
   * conditional `UPDATE`; this default reads then writes (not atomic).
   */
  async updateRunLeased(
    runId: string,
    patch: Partial<RunRecord>,
    options: { lease: string | null },
  ): Promise<boolean> {
    const run = await this.getRun(runId);
    if (!run || (run.lease ?? null) !== options.lease) return false;
    await this.updateRun(runId, patch);
    return true;
  }

  /**
   * Record everything a finished step produced. Stores override this to write
   * it in one transaction (the engine calls it once per step); the default
   * calls the individual methods.
   */
  async recordStepCompletion(
    c: StepCompletion,
    _options: RecordCompletionOptions = {},
  ): Promise<void> {
    if (c.metrics?.length) await this.logMetrics(c.metrics);
    for (const a of c.artifacts ?? []) await this.recordArtifact(a);
    if (c.lineage?.length) await this.recordLineage(c.lineage);
    await this.upsertStepRun(c.stepRun);
    if (c.cacheEntry) await this.putCacheEntry(c.cacheEntry);
  }

  /**
   * Largest artifact (serialized bytes) this store keeps inline, in its own
   * blob table committed with the step records, instead of as an object in
   * the artifact store. `0` (this default) disables inline artifacts; SQL
   * stores read it from their `inlineMaxBytes` setting (docs/artifacts.md).
   */
  readonly inlineMaxBytes: number = 0;

  /**
   * Stage the bytes of an inline artifact under their sha256 (hex): they are
   * committed no later than the next step completion recorded through this
   * store object (in the same transaction), or by {@linkcode flush}. Stores
   * with `inlineMaxBytes` 0 refuse.
   */
  putBlob(_hash: string, _bytes: Uint8Array): void {
    throw notSupported(this, "putBlob", { needs: "putBlob(hash, bytes) and getBlob(hash)" });
  }

  /** The bytes stored inline under `hash` (staged or committed), or `undefined`; readers verify them. */
  getBlob(_hash: string): Promise<Uint8Array | undefined> {
    return Promise.resolve(undefined);
  }

  /** Every inline artifact this store holds: hash and size (for `flowyml artifacts verify`). */
  listBlobs(): Promise<{ hash: string; size: number }[]> {
    return Promise.resolve([]);
  }

  /** URI of an inline artifact, shown in lineage and errors. Default: `<name>://blobs/<hash>`. */
  blobUri(hash: string): string {
    return `${this.name}://blobs/${hash}`;
  }

  /**
   * Commit everything accepted but not yet committed: completions recorded
   * with `defer` and staged blobs. Rejects when that commit fails.
   */
  flush(): Promise<void> {
    return Promise.resolve();
  }
}

/** Options of {@linkcode MetadataStore.recordStepCompletion}. */
export interface RecordCompletionOptions {
  /**
   * Group commit: resolve once the completion is accepted, not committed. It
   * is committed (with the completions of the next ~1 ms, in order) before
   * any later write or read through this store object, and by `flush()` and
   * `close()`; a process killed before that loses it, and a resumed run
   * re-runs the step. Stores that cannot defer commit at once.
   */
  defer?: boolean;
}

/** What {@linkcode MetadataStore.recordStepCompletion} records. */
export interface StepCompletion {
  /** The step run, with its final status. */
  stepRun: StepRunRecord;
  /** Artifacts the step stored. */
  artifacts?: ArtifactRecord[];
  /** Lineage edges for the step's inputs and outputs. */
  lineage?: LineageEdge[];
  /** Cache entry to write, when the step is cacheable. */
  cacheEntry?: CacheEntry;
  /** Metrics the step logged. */
  metrics?: MetricRecord[];
}
