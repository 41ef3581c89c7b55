/**
 * `WasmOrchestrator` (`type: wasm`): an orchestrator whose scheduling policy
 * is a sandboxed plugin. The kernel calls the plugin's `schedule` export once
 * per run with a description of the run (steps, wiring, resources and param
 * names — never param values or secrets); the plugin decides what runs when
 * through brokered `orchestration.submit` / `orchestration.await` /
 * `orchestration.status` requests, each checked against `grants.orchestration`
 * and audited. The kernel still executes, caches, retries, times out and
 * records every step through the same run engine as the local orchestrator.
 *
 * ```yaml
 * plugins:
 *   priority_scheduler:
 *     source: examples/plugins/priority_scheduler/priority_scheduler.wasm
 *     grants: { orchestration: true, config: { max_parallel: 2 }, timeout: 10m }
 * stacks:
 *   prioritized:
 *     orchestrator: { type: wasm, plugin: priority_scheduler, concurrency: 4 }
 * ```
 * @module
 */
import type { PipelineSpec, RunPipelineOptions } from "../../kernel/contracts.ts";
import { EngineOrchestrator, type RunHooks } from "../../kernel/engine_orchestrator.ts";
import { ConfigError } from "../../kernel/errors.ts";
import type { RunControl, StepScheduler } from "../../kernel/scheduling.ts";
import { PluginViolationError } from "../../kernel/sandbox/errors.ts";
import { invokePlugin, resolvePluginConfig } from "../../kernel/sandbox/runtime.ts";
import { loadPlugin } from "../../kernel/sandbox/loader.ts";
import { type WasmOrchestratorOptions, wasmOrchestratorSchema } from "./config.ts";

/** The export the kernel calls once per run. */
export const SCHEDULE_EXPORT = "schedule";

/** What the plugin's `schedule` export receives (JSON). */
export interface ScheduleInput {
  /** Protocol version. */
  v: 1;
  /** Always `schedule`. */
  op: typeof SCHEDULE_EXPORT;
  /** Id of the run being scheduled. */
  runId: string;
  /** Pipeline name. */
  pipeline: string;
  /** Max steps the kernel runs at once. */
  concurrency: number;
  /** Names of the run's params (never their values). */
  params: string[];
  /** The steps, in a valid execution order. */
  steps: RunControl["steps"];
}

/** Orchestrator whose scheduling policy is a sandboxed WASM plugin. */
export class WasmOrchestrator extends EngineOrchestrator {
  /** Registry type: `type: wasm` in `flowyml.yaml`. */
  static readonly type = "wasm";
  /** Validates the `orchestrator:` options of a stack. */
  static readonly configSchema: typeof wasmOrchestratorSchema = wasmOrchestratorSchema;
  /** Name of the plugin (under `plugins:`) that schedules the steps. */
  readonly plugin: string;
  /** Max steps running at once unless a run asks otherwise. Default `8`. */
  readonly concurrency: number;

  /** An orchestrator driven by plugin `options.plugin`, named `options.name` (default `wasm`). */
  constructor(options: WasmOrchestratorOptions) {
    super(options.name ?? "wasm", { owner: "wasm orchestrator" });
    this.plugin = options.plugin;
    this.concurrency = options.concurrency ?? 8;
  }

  /** Loads the plugin (integrity, imports) and checks it exports `schedule` and may schedule. */
  override async validate(): Promise<boolean> {
    const config = await resolvePluginConfig(this.plugin);
    const loaded = await loadPlugin(this.plugin, config);
    if (!loaded.exports.includes(SCHEDULE_EXPORT)) {
      throw new PluginViolationError(this.plugin, "malformed", `does not export "schedule"`, {
        hint: `an orchestrator plugin exports schedule(); it exports: ${
          loaded.exports.join(", ") || "(nothing)"
        }`,
      });
    }
    if (!config.grants.orchestration) {
      throw new ConfigError(
        `plugin "${this.plugin}" is used as an orchestrator but may not submit steps`,
        { hint: `set plugins.${this.plugin}.grants.orchestration: true in flowyml.yaml` },
      );
    }
    return true;
  }

  /** The run's `schedule` hook: the plugin's `schedule` export, called once per run. */
  protected override hooks(pipeline: PipelineSpec, options: RunPipelineOptions): RunHooks {
    return {
      concurrency: options.concurrency ?? this.concurrency,
      schedule: ({ runId, log }): StepScheduler => ({
        name: `plugin "${this.plugin}"`,
        run: async (ctl) => {
          const input: ScheduleInput = {
            v: 1,
            op: SCHEDULE_EXPORT,
            runId,
            pipeline: pipeline.name,
            concurrency: ctl.concurrency,
            params: Object.keys(options.params ?? {}).sort(),
            steps: ctl.steps,
          };
          await invokePlugin(this.plugin, SCHEDULE_EXPORT, {
            input: input,
            runId,
            stack: options.stack,
            orchestration: ctl,
            log: log(`scheduler:${this.plugin}`),
          });
        },
      }),
    };
  }

  /** `{ type: "wasm", plugin, concurrency }`. */
  override toDict(): Record<string, unknown> {
    return { type: "wasm", plugin: this.plugin, concurrency: this.concurrency };
  }
}
