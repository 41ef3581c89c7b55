/**
 * `LocalOrchestrator` (`type: local`): runs a pipeline in the current process,
 * independent steps concurrently, through the kernel's run engine.
 * @module
 */
import { z } from "zod";
import {
  Orchestrator,
  type RunPipelineOptions,
  type RunResult,
  type StackLike,
} from "../../kernel/contracts.ts";
import { executeRun, newRunId } from "../../kernel/engine.ts";
import { ComponentError } from "../../kernel/errors.ts";
import type { PipelineSpec } from "../../kernel/graph.ts";
import type { RunStatus } from "../../kernel/records.ts";
import { runStepTask, type ValueCache } from "../../kernel/step_runner.ts";

/** Config schema of the local orchestrator. */
export const localOrchestratorSchema = z.object({
  name: z.string().optional(),
  concurrency: z.number().int().positive().default(8).describe("max steps running at once"),
}).strict();

/** Runs pipelines in-process. */
export class LocalOrchestrator extends Orchestrator {
  /** Registry type: `type: local` in `flowyml.yaml`. */
  static readonly type = "local";
  /** Validates the `orchestrator:` options of a stack. */
  static readonly configSchema: typeof localOrchestratorSchema = localOrchestratorSchema;
  /** Max steps running at once unless a run asks otherwise. Default `8`. */
  readonly concurrency: number;
  #runs = new Map<string, Promise<RunResult>>();
  #stack?: StackLike;

  /** An orchestrator named `options.name` (default `local`). */
  constructor(options: z.input<typeof localOrchestratorSchema> = {}) {
    super(options.name ?? "local");
    this.concurrency = options.concurrency ?? 8;
  }

  /** Starts the run in this process; resolves once the run is recorded, before it ends. */
  override async runPipeline(pipeline: PipelineSpec, options: RunPipelineOptions): Promise<string> {
    const stack = options.stack;
    this.#stack = stack;
    const runId = options.resumeRunId ?? newRunId(pipeline.name);
    const values: ValueCache = new Map();
    let recorded!: () => void;
    const isRecorded = new Promise<void>((r) => (recorded = r));
    const log = (step: string) => (message: string) => {
      if (options.onEvent) options.onEvent({ type: "step_log", runId, step, message });
      else console.log(`[${step}] ${message}`);
    };
    const run = executeRun(pipeline, {
      ...options,
      concurrency: options.concurrency ?? this.concurrency,
      runId,
      values,
      onRecorded: recorded,
      dispatch: (task, step, signal) =>
        runStepTask(step, task, {
          store: stack.artifactStore,
          executor: stack.executor,
          signal,
          values,
          worker: "local",
          log: log(step.name),
          stack,
        }),
    });
    this.#runs.set(runId, run);
    run.catch(() => {});
    await Promise.race([isRecorded, run]);
    return runId;
  }

  /** Reads the status from the stack's metadata store. */
  override async getRunStatus(runId: string): Promise<RunStatus> {
    if (!this.#stack) throw new ComponentError(`local orchestrator: unknown run ${runId}`);
    const r = await this.#stack.metadataStore.getRun(runId);
    if (!r) throw new ComponentError(`local orchestrator: unknown run ${runId}`);
    return r.status;
  }

  /** Only runs started by this instance can be awaited; others reject with a hint. */
  override waitForRun(runId: string): Promise<RunResult> {
    const p = this.#runs.get(runId);
    if (!p) {
      return Promise.reject(
        new ComponentError(`local orchestrator: run ${runId} was not started by this process`, {
          hint: "use `flowyml runs show <id>` to inspect runs from other processes",
        }),
      );
    }
    return p.finally(() => this.#runs.delete(runId));
  }

  /** `{ type: "local", concurrency }`. */
  override toDict(): Record<string, unknown> {
    return { type: "local", concurrency: this.concurrency };
  }
}
