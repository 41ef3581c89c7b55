/**
 * `LocalOrchestrator` (`type: local`): runs a pipeline in the current process,
 * independent steps concurrently, through the kernel's run engine.
 * @module
 */
import { z } from "zod";
import { Orchestrator, type RunPipelineOptions, type RunResult } from "../../kernel/contracts.ts";
import { RunBook } from "../../kernel/run_book.ts";
import type { PipelineSpec } from "../../kernel/graph.ts";
import type { RunStatus } from "../../kernel/records.ts";

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
  #runs = new RunBook("local orchestrator");

  /** An orchestrator named `options.name` (default `local`). */
  constructor(options: z.input<typeof localOrchestratorSchema> = {}) {
    super(options.name ?? "local");
    this.concurrency = options.concurrency ?? 8;
  }

  /** Starts the run in this process; resolves once the run is recorded, before it ends. */
  override runPipeline(pipeline: PipelineSpec, options: RunPipelineOptions): Promise<string> {
    return this.#runs.start(pipeline, options, {
      concurrency: options.concurrency ?? this.concurrency,
    });
  }

  /** Reads the status from the stack's metadata store. */
  override getRunStatus(runId: string): Promise<RunStatus> {
    return this.#runs.status(runId);
  }

  /** Only runs started by this instance can be awaited; others reject with a hint. */
  override waitForRun(runId: string): Promise<RunResult> {
    return this.#runs.wait(runId);
  }

  /** `{ type: "local", concurrency }`. */
  override toDict(): Record<string, unknown> {
    return { type: "local", concurrency: this.concurrency };
  }
}
