/**
 * `EngineOrchestrator`: the base of every orchestrator whose runs the kernel's
 * engine drives from this process (local, queue, container, WASM). The engine
 * owns the run (records, cache, retries, timeouts, scheduling); a subclass
 * only supplies the {@linkcode RunHooks} of each run: where an attempt runs
 * (`dispatch`, or `dispatchFor` when attempts stream their log lines) and who
 * picks the next ready step (`schedule`). `cancelRun` cancels a run this
 * instance drives (running attempts get their signal aborted).
 *
 * ```ts ignore
 * class Mine extends EngineOrchestrator {
 *   static readonly type = "mine";
 *   constructor() {
 *     super("mine", { owner: "mine orchestrator" });
 *   }
 *   protected override hooks(_p: PipelineSpec, o: RunPipelineOptions): RunHooks {
 *     return { concurrency: o.concurrency ?? 4, dispatch: (task, step, signal) => send(task) };
 *   }
 * }
 * ```
 *
 * Orchestrators that hand the whole run to another system (Vertex, Airflow)
 * extend `Orchestrator` directly, as third-party orchestrators may; they record
 * the run with `recordRunSubmitted` and `recordRunEnd` (kernel/run_start.ts).
 * @module
 */
import { Orchestrator, type RunPipelineOptions, type RunResult } from "./contracts.ts";
import type { PipelineSpec } from "./graph.ts";
import type { RunStatus } from "./records.ts";
import { RunBook } from "./run_book.ts";
import type { StepScheduler } from "./scheduling.ts";
import type { Dispatch } from "./step_runner.ts";

/** The run a hook is built for, once its id is known. */
export interface HookRun {
  /** The run's id. */
  runId: string;
  /** `log(source)(line)`: a line of the run's output, recorded as `source`'s step log. */
  log: (source: string) => (line: string) => void;
}

/** What an orchestrator supplies for one run the engine drives. */
export interface RunHooks {
  /** Max steps running at once. */
  concurrency: number;
  /** Where each step attempt runs (default: in this process, on the stack's executor). */
  dispatch?: Dispatch;
  /** Instead of `dispatch`: the dispatcher built once the run id is known, e.g. to stream logs. */
  dispatchFor?: (run: HookRun) => Dispatch;
  /** Who picks the next ready step (default: graph order); built once the run id is known. */
  schedule?: (run: HookRun) => StepScheduler;
  /** Attempts still unfinished after this long get a "running" record (default 50 ms). */
  runningRecordDelayMs?: number;
  /** `dispatch` enforces each attempt's `timeoutMs` itself, from the step's start. */
  dispatchEnforcesTimeout?: boolean;
  /**
   * Every reader of the run's artifacts reaches the stack's metadata store, so outputs stored
   * inline there may be reused from the cache (default: only with the default `dispatch`).
   */
  inlineArtifacts?: boolean;
  /** Called once the run has ended, successfully or not. */
  onSettled?: () => void;
}

/** An orchestrator whose runs the kernel's engine drives; subclasses supply {@linkcode RunHooks}. */
export abstract class EngineOrchestrator extends Orchestrator {
  readonly #runs: RunBook;

  /** An orchestrator named `name`; `owner` names it in messages (e.g. `local orchestrator`). */
  constructor(name: string, options: { owner?: string; hint?: string } = {}) {
    super(name);
    this.#runs = new RunBook(options.owner ?? `${name} orchestrator`, { hint: options.hint });
  }

  /** The hooks of one run, asked once before it starts (may check and prepare, e.g. pull an image). */
  protected abstract hooks(
    pipeline: PipelineSpec,
    options: RunPipelineOptions,
  ): RunHooks | Promise<RunHooks>;

  /** Starts the run in this process's engine; resolves once the run is recorded, before it ends. */
  override async runPipeline(pipeline: PipelineSpec, options: RunPipelineOptions): Promise<string> {
    const h = await this.hooks(pipeline, options);
    return await this.#runs.start(pipeline, options, {
      concurrency: h.concurrency,
      ...(h.dispatchFor
        ? { dispatch: (runId, log) => h.dispatchFor!({ runId, log }) }
        : h.dispatch
        ? { dispatch: () => h.dispatch! }
        : {}),
      ...(h.schedule ? { scheduler: (runId, log) => h.schedule!({ runId, log }) } : {}),
      engine: {
        runningRecordDelayMs: h.runningRecordDelayMs,
        dispatchEnforcesTimeout: h.dispatchEnforcesTimeout,
        inlineArtifacts: h.inlineArtifacts,
      },
      onSettled: h.onSettled,
    });
  }

  /** Reads the status from the metadata store of the stack last used. */
  override getRunStatus(runId: string): Promise<RunStatus> {
    return this.#runs.status(runId);
  }

  /** Only runs started by this instance can be awaited; others reject with a hint. */
  override waitForRun(runId: string): Promise<RunResult> {
    return this.#runs.wait(runId);
  }

  /**
   * Cancels a run this instance started: no further step starts, running attempts get their
   * signal aborted (a dispatcher stops its remote work), the run is recorded `cancelled`.
   * Resolves once the run has ended; runs started elsewhere reject with a hint.
   */
  override cancelRun(runId: string): Promise<void> {
    return this.#runs.cancel(runId);
  }
}
