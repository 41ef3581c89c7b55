/**
 * The runs an orchestrator drives from this process: what the local, WASM
 * and queue orchestrators share. Starts the run engine (by default with
 * in-process dispatch through `runStepTask`), keeps each run's promise for
 * `waitForRun`, and reads statuses from the metadata store.
 * @module
 */
import type { PipelineSpec, RunPipelineOptions, RunResult, StackLike } from "./contracts.ts";
import { type Dispatch, executeRun, type ExecuteRunOptions, newRunId } from "./engine.ts";
import { ComponentError } from "./errors.ts";
import { cancelActiveRun } from "./run_liveness.ts";
import type { RunStatus } from "./records.ts";
import type { StepScheduler } from "./scheduling.ts";
import { runStepTask, type ValueCache } from "./step_runner.ts";
import { recordingLogEvents, StepLogWriter } from "./step_logs.ts";

/** Options of {@linkcode RunBook.start}. */
export interface StartRunOptions {
  /** Max steps running at once. */
  concurrency: number;
  /**
   * Where step attempts go (default: run them in this process with `runStepTask`); `log(step)`
   * writes a line of the step's log (the run's output and its recorded step log).
   */
  dispatch?: (runId: string, log: (step: string) => (message: string) => void) => Dispatch;
  /** Further engine options (e.g. `dispatchEnforcesTimeout` for remote workers). */
  engine?: Pick<
    ExecuteRunOptions,
    "runningRecordDelayMs" | "dispatchEnforcesTimeout" | "inlineArtifacts"
  >;
  /** Called once the run has ended, successfully or not. */
  onSettled?: () => void;
  /** An external scheduler for the run, built once its id and log are known. */
  scheduler?: (runId: string, log: (source: string) => (message: string) => void) => StepScheduler;
}

/** The runs one orchestrator instance started from this process. */
export class RunBook {
  /** Used in messages, e.g. `local orchestrator`. */
  readonly owner: string;
  /** Fix hint for `wait` on a run this process did not start. */
  readonly #hint: string;
  #runs = new Map<string, Promise<RunResult>>();
  #stack?: StackLike;

  /** Runs of the orchestrator described as `owner` in messages. */
  constructor(
    owner: string,
    options: { hint?: string } = {},
  ) {
    this.owner = owner;
    this.#hint = options.hint ??
      "use `flowyml runs show <id>` to inspect runs from other processes";
  }

  /** Start a run; resolves with its id once the run is recorded, before it ends. */
  async start(
    pipeline: PipelineSpec,
    options: RunPipelineOptions,
    start: StartRunOptions,
  ): Promise<string> {
    const stack = options.stack;
    this.#stack = stack;
    const runId = options.resumeRunId ?? newRunId(pipeline.name);
    const values: ValueCache = new Map();
    let recorded!: () => void;
    const isRecorded = new Promise<void>((r) => (recorded = r));
    // Step log lines are also kept in the metadata store, by attempt (kernel/step_logs.ts).
    const logs = new StepLogWriter(stack.metadataStore, runId);
    const onEvent = recordingLogEvents(logs, options.onEvent);
    const log = (step: string) => (message: string) => {
      onEvent({ type: "step_log", runId, step, message });
      if (!options.onEvent) console.log(`[${step}] ${message}`);
    };
    const run = executeRun(pipeline, {
      ...options,
      onEvent,
      ...start.engine,
      concurrency: start.concurrency,
      runId,
      values,
      onRecorded: recorded,
      scheduler: start.scheduler?.(runId, log),
      dispatch: start.dispatch?.(runId, log) ?? ((task, step, signal) =>
        runStepTask(step, task, {
          store: stack.artifactStore,
          executor: stack.executor,
          signal,
          values,
          worker: "local",
          log: log(step.name),
          stack,
          // Steps run here: small outputs may be stored inline, if the artifact store agrees.
          ...(stack.artifactStore.acceptsInline ? { inline: stack.metadataStore } : {}),
        })),
      // Readers of this run's artifacts are this process: inline ones are cache hits too.
      inlineArtifacts: start.engine?.inlineArtifacts ?? !start.dispatch,
    }).finally(() => logs.flush());
    this.#runs.set(runId, run);
    run.catch(() => {}).finally(() => start.onSettled?.());
    await Promise.race([isRecorded, run]);
    return runId;
  }

  /** The status of a run, from the metadata store of the last stack used. */
  async status(runId: string): Promise<RunStatus> {
    const r = await this.#stack?.metadataStore.getRun(runId);
    if (!r) throw new ComponentError(`${this.owner}: unknown run ${runId}`);
    return r.status;
  }

  /**
   * Cancel a run started here (running attempts get their signal aborted, the run is recorded
   * `cancelled`); resolves once it has ended (at once when it already had). Other runs reject.
   */
  async cancel(runId: string, reason = "cancelRun() was called"): Promise<void> {
    const run = this.#runs.get(runId);
    if (!run) {
      throw new ComponentError(`${this.owner}: run ${runId} was not started by this process`, {
        hint: this.#hint,
      });
    }
    cancelActiveRun(runId, reason);
    await run.catch(() => {});
  }

  /** The result of a run started here; other runs reject with a hint. */
  wait(runId: string): Promise<RunResult> {
    const p = this.#runs.get(runId);
    if (!p) {
      return Promise.reject(
        new ComponentError(`${this.owner}: run ${runId} was not started by this process`, {
          hint: this.#hint,
        }),
      );
    }
    return p.finally(() => this.#runs.delete(runId));
  }
}
