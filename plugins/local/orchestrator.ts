/**
 * `LocalOrchestrator` (`type: local`): runs a pipeline in the current process,
 * independent steps concurrently. The kernel's engine drives the run; its only
 * hook is the run's concurrency (attempts run in process, in graph order).
 * @module
 */
import type { RunPipelineOptions } from "../../kernel/contracts.ts";
import { EngineOrchestrator, type RunHooks } from "../../kernel/engine_orchestrator.ts";
import { type LocalOrchestratorOptions, localOrchestratorSchema } from "./config.ts";

/** Runs pipelines in-process. */
export class LocalOrchestrator extends EngineOrchestrator {
  /** Registry type: `type: local` in `flowyml.yaml`. */
  static readonly type = "local";
  /** Validates the `orchestrator:` options of a stack. */
  static readonly configSchema: typeof localOrchestratorSchema = localOrchestratorSchema;
  /** Max steps running at once unless a run asks otherwise. Default `8`. */
  readonly concurrency: number;

  /** An orchestrator named `options.name` (default `local`). */
  constructor(options: LocalOrchestratorOptions = {}) {
    super(options.name ?? "local", { owner: "local orchestrator" });
    this.concurrency = options.concurrency ?? 8;
  }

  /** In-process dispatch and graph order (the engine's defaults); only the concurrency is set. */
  protected override hooks(_pipeline: unknown, options: RunPipelineOptions): RunHooks {
    return { concurrency: options.concurrency ?? this.concurrency };
  }

  /** `{ type: "local", concurrency }`. */
  override toDict(): Record<string, unknown> {
    return { type: "local", concurrency: this.concurrency };
  }
}
