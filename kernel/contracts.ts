/**
 * The component contracts (the seed's component hierarchy, in TypeScript
 * idiom): `Orchestrator`, `ArtifactStore`, `MetadataStore`,
 * `ContainerRegistry` and `Executor`, all extending {@linkcode StackComponent}.
 * @module
 */
import { type DockerConfig, type ResourceConfig, StackComponent } from "./component.ts";
import type {
  ArtifactRecord,
  AuditEvent,
  CacheEntry,
  LineageEdge,
  MetricRecord,
  RunQuery,
  RunRecord,
  RunStatus,
  StepRunRecord,
} from "./records.ts";
import { getSerializers } from "./serializers.ts";
import { ComponentError } from "./errors.ts";
import {
  bytesFromLoaded,
  implementsOwn,
  notSupported,
  pollRunStatus,
  readWhole,
  streamOfBytes,
  typeOfComponent,
} from "./contract_defaults.ts";

// ---- The pipeline model (types only; `step()` lives in step.ts, graphs in graph.ts) ----

/** Options shared by steps and pipelines. A step's own options win. */
export interface ExecutionOptions {
  /** Reuse earlier outputs when code, inputs and read params are unchanged. Default `true`. */
  cache?: boolean;
  /** Extra attempts after a failure. Default `0`. */
  retries?: number;
  /** Delay before the first retry, doubled on each further retry. Default `100` ms. */
  retryDelayMs?: number;
  /** Fail an attempt that runs longer than this. */
  timeoutMs?: number;
  /** Resources the step needs; the queue orchestrator routes on `labels`/`gpu`. */
  resources?: ResourceConfig;
}

/** What a step function receives besides its inputs. */
export interface StepContext {
  /** Run parameters. Reads are tracked: only the params a step reads enter its cache key. */
  params: Record<string, unknown>;
  /** Id of the current run. */
  runId: string;
  /** Name of the step being run. */
  step: string;
  /** 1 for the first attempt. */
  attempt: number;
  /** Aborted when the step times out or the run is cancelled. */
  signal: AbortSignal;
  /** Log a line attributed to this step. */
  log(message: string): void;
  /**
   * Record numeric metrics of this step (e.g. `{ accuracy: 0.97 }`) in the
   * metadata store, shown by `flowyml runs show`. A cache hit keeps the
   * metrics of the run that computed the outputs.
   */
  logMetrics(metrics: Record<string, number>): void;
  /**
   * Artifact reads and writes through the verified, content-addressed path
   * (the run's artifact store): what a step may use of the stack.
   */
  artifacts?: StepArtifacts;
  /**
   * The whole stack the step runs on, when the orchestrator provides it.
   * @deprecated Steps get the narrow services above (`artifacts`, `logMetrics`, `log`,
   * `signal`, `params`); kept for sandboxed plugin steps, whose broker needs the stack.
   */
  stack?: StackLike;
  /** Name of the pipeline the step belongs to. */
  pipeline?: string;
  /** Module the pipeline was defined in, when known (executors that run steps elsewhere import it). */
  source?: string;
}

/** A step's verified access to the run's artifact store ({@linkcode StepContext.artifacts}). */
export interface StepArtifacts {
  /** Load a stored value, verified against its recorded hash. */
  load(ref: import("./records.ts").ArtifactRef): Promise<unknown>;
  /** Store a value losslessly and content-addressed; returns its reference. */
  save(value: unknown): Promise<import("./records.ts").ArtifactRef>;
}

/** A step's implementation: inputs by name, plus the context. */
// deno-lint-ignore no-explicit-any
export type StepFn = (inputs: any, ctx: StepContext) => unknown;

/** Options of {@linkcode step}. */
export interface StepOptions extends ExecutionOptions {
  /** Unique within a pipeline. */
  name: string;
  /** Artifact names this step consumes. */
  inputs?: string[];
  /** Artifact names this step produces. */
  outputs?: string[];
  /** Restrict which params the step can see (default: all, with reads tracked). */
  params?: string[];
  /** Extra text mixed into the cache key, e.g. a version of external code the step calls. */
  cacheSalt?: string;
}

/** A defined step. */
export interface Step {
  /** Unique within a pipeline. */
  readonly name: string;
  /** Artifact names the step consumes, in declaration order. */
  readonly inputs: readonly string[];
  /** Artifact names the step produces, in declaration order. */
  readonly outputs: readonly string[];
  /** The options the step was defined with. */
  readonly options: StepOptions;
  /** The step's implementation. */
  readonly fn: StepFn;
  /** Source of `fn` plus options; hashed into the cache key. */
  readonly codeHashInput: string;
  /**
   * Module that defined the step (the caller of `step()`); its local imports, transitively,
   * are part of the step's code identity (kernel/code_identity.ts).
   */
  readonly module?: string;
}

/** What an orchestrator needs to know about a pipeline. */
export interface PipelineSpec {
  /** Pipeline name; runs are recorded under it. */
  readonly name: string;
  /** The steps, in the order they were added. */
  readonly steps: readonly Step[];
  /** Defaults for every step (a step's own options win). */
  readonly options: ExecutionOptions;
  /** Module specifier the pipeline was loaded from (for remote workers). */
  readonly source?: string;
}

// ---- Stacks and components ----

/** The components of a stack, as seen by other components. */
export interface StackLike {
  /** Stack name, as in `flowyml.yaml` `stacks:`. */
  readonly name: string;
  /** Runs pipelines. */
  readonly orchestrator: Orchestrator;
  /** Stores step outputs. */
  readonly artifactStore: ArtifactStore;
  /** Records runs, step runs, lineage, cache entries and audit events. */
  readonly metadataStore: MetadataStore;
  /** Runs step functions. */
  readonly executor: Executor;
  /** Pushes and pulls images, when the stack has one. */
  readonly containerRegistry?: ContainerRegistry;
}

/** Options of {@linkcode Orchestrator.runPipeline}. */
export interface RunPipelineOptions {
  /** Stack whose stores the run uses. */
  stack: StackLike;
  /** Run parameters, visible to steps as `ctx.params`. */
  params?: Record<string, unknown>;
  /** `false` disables the cache for every step (CLI `--no-cache`). */
  cache?: boolean;
  /** Resources the whole run asks for (steps may ask for more). */
  resources?: ResourceConfig;
  /** Image settings, for orchestrators that run steps in containers. */
  docker?: DockerConfig;
  /** Max steps running at once (default: 8). */
  concurrency?: number;
  /** Called on every step state change (drives the CLI's live progress). */
  onEvent?: (e: RunEvent) => void;
  /** Resume this existing run: completed steps are reused, not re-run. */
  resumeRunId?: string;
  /**
   * Take the resumed run over even while its lease looks alive (`runs resume
   * --force`); the old driver stops at its next heartbeat.
   */
  forceResume?: boolean;
  /**
   * Load final outputs that are not in memory (remote runs) into
   * `RunResult.outputs`. Default `true`; the CLI passes `false`, as it
   * prints the summary from the metadata store and never uses the values.
   */
  loadOutputs?: boolean;
}

/** Progress events emitted during a run. */
export type RunEvent =
  | { type: "run_started"; runId: string; pipeline: string; steps: string[] }
  | { type: "step_started"; runId: string; step: string; attempt: number }
  | { type: "step_retry"; runId: string; step: string; attempt: number; error: string }
  | {
    type: "step_finished";
    runId: string;
    step: string;
    status: StepRunRecord["status"];
    durationMs: number;
  }
  | { type: "step_log"; runId: string; step: string; message: string }
  | { type: "run_finished"; runId: string; status: RunStatus };

/** Result of one step in a {@linkcode RunResult}. */
export interface StepResult {
  /** Final status of the step. */
  status: StepRunRecord["status"];
  /** True when outputs were reused from the step cache. */
  cached: boolean;
  /** Wall time of the step in ms, retries included. */
  durationMs: number;
  /** Attempts made (0 when skipped or cached). */
  attempts: number;
  /** Message of the last failure, if the step failed. */
  error?: string;
  /** Who ran it: `local`, a queue worker id, a plugin name. */
  worker?: string;
  /** Stored outputs by artifact name. */
  outputs: Record<string, import("./records.ts").ArtifactRef>;
}

/** What `pipeline.run()` returns. */
export interface RunResult {
  /** Id of the run, for `flowyml runs show`. */
  runId: string;
  /** How the run ended. */
  status: "completed" | "failed" | "cancelled";
  /** Output values by artifact name, loaded lazily from the store for remote runs. */
  outputs: Record<string, unknown>;
  /** Per-step results by step name. */
  steps: Record<string, StepResult>;
  /** The first step error, carrying the step name and cause. */
  error?: Error;
  /** Wall time of the whole run in ms. */
  durationMs: number;
}

/** Options of {@linkcode Orchestrator.waitForRun}. */
export interface WaitForRunOptions {
  /** The stack the run used: the default `waitForRun` reads step results from its metadata store. */
  stack?: StackLike;
  /** Stops waiting (the run itself goes on). */
  signal?: AbortSignal;
}

/**
 * Runs pipelines (the seed's `Orchestrator`). Required: `runPipeline` and
 * `getRunStatus` (plus `toDict`). `waitForRun` defaults to polling
 * `getRunStatus` with backoff; `cancelRun` to "not supported".
 */
export abstract class Orchestrator extends StackComponent {
  /** Registry kind of every orchestrator. */
  static override readonly kind = "orchestrator" as const;
  /** Start a run; resolves with its run id once the run is recorded. */
  abstract runPipeline(pipeline: PipelineSpec, options: RunPipelineOptions): Promise<string>;
  /**
   * Status of a run. The default `waitForRun` also understands other systems'
   * words (`success`, `queued`, `canceled`…).
   */
  abstract getRunStatus(runId: string): Promise<RunStatus>;
  /**
   * Wait for a run and return its result. Default: poll `getRunStatus` with
   * backoff (50 ms growing to 2 s) until the run ends, then read the step
   * results from `options.stack`'s metadata store. `Pipeline.run()` loads the
   * final outputs from the artifact store.
   */
  async waitForRun(runId: string, options: WaitForRunOptions = {}): Promise<RunResult> {
    const t0 = performance.now();
    const status = await pollRunStatus((id) => this.getRunStatus(id), runId, {
      signal: options.signal,
      owner: `orchestrator "${this.name}"`,
    });
    const steps: Record<string, StepResult> = {};
    const records = await options.stack?.metadataStore.listStepRuns(runId) ?? [];
    for (const r of records) {
      steps[r.step] = {
        status: r.status,
        cached: r.cached,
        durationMs: r.durationMs ?? 0,
        attempts: r.attempts,
        error: r.error,
        worker: r.worker,
        outputs: r.outputs ?? {},
      };
    }
    const failed = records.find((r) => r.error);
    return {
      runId,
      status: status === "completed"
        ? "completed"
        : status === "cancelled"
        ? "cancelled"
        : "failed",
      outputs: {},
      steps,
      error: status === "completed" ? undefined : new ComponentError(
        `run ${runId} ended ${status}${failed ? `: step "${failed.step}": ${failed.error}` : ""}`,
      ),
      durationMs: performance.now() - t0,
    };
  }
  /** Cancel a running run. */
  cancelRun(_runId: string): Promise<void> {
    return Promise.reject(notSupported(this, "cancelRun", { needs: "cancelRun(runId)" }));
  }
}

/** A listed object in an artifact store. */
export interface StoredObject {
  /** Path inside the store, as passed to `writeBytes`. */
  path: string;
  /** Size in bytes. */
  size: number;
}

const STORE_SHAPES = "save(artifact, path)/load(path)/exists(path), or writeBytes(path, bytes)/" +
  "readBytes(path)/exists(path)/uriFor(path)";

/**
 * Stores bytes under paths (the seed's `ArtifactStore`). A store implements
 * one of two small shapes (plus `toDict`):
 *
 * - the seed's: `save(artifact, path)`, `load(path)`, `exists(path)`; flowyml
 *   then stores serialized bytes through `save(bytes, path)`, so `load` must
 *   give the `Uint8Array` back;
 * - the byte primitives: `writeBytes`, `readBytes`, `exists`, `uriFor`;
 *   `save`/`load` are then built on them with the serializer registry.
 *
 * Streams default to whole reads and writes, `move` to copy then delete, and
 * `list`/`delete` to a "not supported" error (garbage collection, artifact
 * verification and the WASM broker's list need them). The engine stores step
 * outputs content-addressed under `objects/<aa>/<sha256>` on every store.
 */
export abstract class ArtifactStore extends StackComponent {
  /** Registry kind of every artifact store. */
  static override readonly kind = "artifact_store" as const;
  /**
   * Small step outputs of runs whose steps execute in this process may be kept inline in the
   * metadata store instead of here (docs/artifacts.md). Default `false`: every output is an
   * object in this store; the local filesystem store says `true`.
   */
  readonly acceptsInline: boolean = false;
  /** Full URI of a path, e.g. `file:///…`, `s3://bucket/…`. Default: `<name>://<path>`. */
  uriFor(path: string): string {
    return `${this.name}://${path}`;
  }
  /** Write bytes atomically: readers never see a partial object. Default: `save(bytes, path)`. */
  async writeBytes(path: string, data: Uint8Array): Promise<void> {
    if (!implementsOwn(this, "save", ArtifactStore)) throw this.#neither("writeBytes");
    await this.save(data, path);
  }
  /** Read all bytes. Default: `load(path)`, which must return a `Uint8Array`. */
  async readBytes(path: string): Promise<Uint8Array> {
    if (!implementsOwn(this, "load", ArtifactStore)) throw this.#neither("readBytes");
    return bytesFromLoaded(await this.load(path), `${typeOfComponent(this)}.load("${path}")`);
  }
  /** Write a stream atomically. Returns bytes written. Default: read it whole, then `writeBytes`. */
  async writeStream(path: string, stream: ReadableStream<Uint8Array>): Promise<number> {
    const bytes = await readWhole(stream);
    await this.writeBytes(path, bytes);
    return bytes.byteLength;
  }
  /** Read as a stream. Default: `readBytes` as one chunk. */
  async readStream(path: string): Promise<ReadableStream<Uint8Array>> {
    return streamOfBytes(await this.readBytes(path));
  }
  /** True when an object exists at `path`. */
  abstract exists(path: string): Promise<boolean>;
  /** Objects under a prefix. Default: not supported. */
  list(_prefix?: string): Promise<StoredObject[]> {
    return Promise.reject(notSupported(this, "list", {
      needs: "list(prefix)",
      usedBy: "`flowyml artifacts verify`, garbage collection and the WASM broker's list",
    }));
  }
  /** Delete an object; deleting a missing object is not an error. Default: not supported. */
  delete(_path: string): Promise<void> {
    return Promise.reject(notSupported(this, "delete", {
      needs: "delete(path)",
      usedBy: "putStream() (it writes to a temporary path, then moves) and garbage collection",
    }));
  }

  /** Move an object (used to publish content-addressed uploads). Default: copy then delete. */
  async move(from: string, to: string): Promise<void> {
    await this.writeStream(to, await this.readStream(from));
    await this.delete(from);
  }

  /**
   * Serialize `artifact` with the serializer registry and store it at `path`
   * (a `.flowyml.json` side file records the serializer). Returns its URI.
   */
  async save(artifact: unknown, path: string): Promise<string> {
    if (!implementsOwn(this, "writeBytes", ArtifactStore)) throw this.#neither("save");
    const ser = getSerializers().forValue(artifact);
    const { bytes, meta } = ser.serialize(artifact);
    await this.writeBytes(path, bytes);
    const side = { serializer: ser.name, version: ser.version, meta: meta ?? {} };
    await this.writeBytes(`${path}.flowyml.json`, new TextEncoder().encode(JSON.stringify(side)));
    return this.uriFor(path);
  }

  /** Load what {@linkcode save} stored. */
  async load(path: string): Promise<unknown> {
    if (!implementsOwn(this, "readBytes", ArtifactStore)) throw this.#neither("load");
    const bytes = await this.readBytes(path);
    let side: { serializer: string; meta?: Record<string, unknown> } = { serializer: "bytes" };
    if (await this.exists(`${path}.flowyml.json`)) {
      side = JSON.parse(new TextDecoder().decode(await this.readBytes(`${path}.flowyml.json`)));
    }
    return getSerializers().get(side.serializer).deserialize(bytes, side.meta);
  }

  #neither(method: string): ComponentError {
    return notSupported(this, method, { needs: STORE_SHAPES });
  }
}

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

/** Pushes and pulls container images (the seed's `ContainerRegistry`). */
export abstract class ContainerRegistry extends StackComponent {
  /** Registry kind of every container registry. */
  static override readonly kind = "container_registry" as const;
  /** Push a locally built image; returns its full URI (with digest when known). */
  abstract pushImage(name: string, tag: string): Promise<string>;
  /** Pull an image into local storage. */
  abstract pullImage(name: string, tag: string): Promise<void>;
  /** The full URI of an image, e.g. `registry.example.com/team/name:tag`. */
  abstract getImageUri(name: string, tag: string): string;
}

/** Runs one step's function. */
export abstract class Executor extends StackComponent {
  /** Registry kind of every executor. */
  static override readonly kind = "executor" as const;
  /** Call `step` with its loaded inputs; returns what the step function returned. */
  abstract executeStep(
    step: Step,
    inputs: Record<string, unknown>,
    ctx: StepContext,
  ): Promise<unknown>;
  /** Called by the engine when a run ends (e.g. to release idle workers). */
  runFinished(_runId: string): void | Promise<void> {}
}
