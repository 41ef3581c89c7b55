/**
 * The component contracts (the seed's component hierarchy, in TypeScript
 * idiom) and the pipeline model they share: `Orchestrator`,
 * `ContainerRegistry` and `Executor`, all extending {@linkcode StackComponent},
 * the stack as components see it, and the run's options, events and results.
 * The two store contracts have their own modules (artifact_store.ts,
 * metadata_store.ts) and are re-exported here.
 * @module
 */
import { type DockerConfig, type ResourceConfig, StackComponent } from "./component.ts";
import type { RunStatus, StepRunRecord } from "./records.ts";
import { ComponentError } from "./errors.ts";
import { notSupported, pollRunStatus } from "./contract_defaults.ts";
import type { ArtifactStore } from "./artifact_store.ts";
import type { MetadataStore } from "./metadata_store.ts";

export { ArtifactStore, type StoredObject } from "./artifact_store.ts";
export {
  MetadataStore,
  type RecordCompletionOptions,
  type StepCompletion,
} from "./metadata_store.ts";

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
