/**
 * `Pipeline`: a named list of steps plus options, run on a stack.
 *
 * ```ts ignore
 * const result = await new Pipeline("iris").add(load).add(split).add(fit)
 *   .run({ params: { lr: 0.1 } });
 * ```
 * @module
 */
import type { RunEvent, RunResult } from "./contracts.ts";
import { PipelineDefinitionError } from "./errors.ts";
import { graphOf, type PipelineGraph, type PipelineSpec } from "./graph.ts";
import { loadProjectComponents } from "./lock.ts";
import { withFinalOutputs } from "./run_outputs.ts";
import { resolveStack, type Stack } from "./stack.ts";
import type { ExecutionOptions, Step } from "./step.ts";

/** Options of the {@linkcode Pipeline} constructor. */
export interface PipelineOptions extends ExecutionOptions {
  /** A stack, or the name of one in `flowyml.yaml`. Default: `default_stack`, else local. */
  stack?: Stack | string;
  /** Max steps running at once. Default 8. */
  concurrency?: number;
  /** Module the pipeline is defined in (`import.meta.url`); lets remote workers import it. */
  source?: string;
}

/** Options of {@linkcode Pipeline.run}. */
export interface RunOptions {
  /** Run parameters, visible to steps as `ctx.params`. */
  params?: Record<string, unknown>;
  /** `false` ignores the cache for every step. */
  cache?: boolean;
  /** Override the pipeline's stack. */
  stack?: Stack | string;
  /** Max steps running at once (default: the pipeline's `concurrency`). */
  concurrency?: number;
  /** Called on every step state change, e.g. to show progress. */
  onEvent?: (e: RunEvent) => void;
  /** Continue this earlier run, reusing its completed steps. */
  resumeRunId?: string;
  /** Take the resumed run over even while its driver looks alive (`runs resume --force`). */
  forceResume?: boolean;
  /** Load final outputs computed elsewhere into `result.outputs` (default `true`). */
  loadOutputs?: boolean;
}

/** A pipeline: steps wired by their input and output names. */
export class Pipeline implements PipelineSpec {
  readonly name: string;
  readonly options: PipelineOptions;
  readonly #steps: Step[] = [];
  /** Names of `#steps`: a 1,000-step pipeline is defined without a quadratic scan. */
  readonly #names = new Set<string>();

  /** A pipeline named `name`; throws if the name is empty. */
  constructor(name: string, options: PipelineOptions = {}) {
    if (!name || typeof name !== "string") {
      throw new PipelineDefinitionError("new Pipeline(name): name must be a non-empty string");
    }
    this.name = name;
    this.options = { ...options };
  }

  /** The steps, in the order added. */
  get steps(): readonly Step[] {
    return this.#steps;
  }

  /** Module the pipeline came from. */
  get source(): string | undefined {
    return this.options.source;
  }

  /** Add a step. Duplicate step names are refused at once. */
  add(s: Step): this {
    if (!s || typeof s.fn !== "function") {
      throw new PipelineDefinitionError(
        `pipeline "${this.name}": add() takes a step made with step()`,
      );
    }
    if (this.#names.has(s.name)) {
      throw new PipelineDefinitionError(
        `pipeline "${this.name}": two steps are named "${s.name}"`,
        {
          hint: "give every step a unique name",
        },
      );
    }
    this.#steps.push(s);
    this.#names.add(s.name);
    return this;
  }

  /** Alias of {@linkcode add}. */
  addStep(s: Step): this {
    return this.add(s);
  }

  /**
   * Check the wiring (missing inputs, duplicate outputs, cycles) and return the graph, built once
   * while the steps are unchanged (the engine reuses it for the run).
   */
  build(): PipelineGraph {
    return graphOf(this);
  }

  /**
   * Run the pipeline on its stack and wait for the result. A stack named (or the default one)
   * is built from `flowyml.yaml` after the component modules pinned in `flowyml.lock` (and the
   * plugins declared in deno.json / package.json) are verified and registered.
   */
  async run(options: RunOptions = {}): Promise<RunResult> {
    this.build();
    const want = options.stack ?? this.options.stack;
    // A stack built here by name sees the project's pinned plugins, verified as the CLI does.
    if (typeof want !== "object") await loadProjectComponents();
    const stack = typeof want === "object" ? want : await resolveStack(want);
    const runId = await stack.orchestrator.runPipeline(this, {
      stack,
      params: options.params,
      cache: options.cache,
      resources: this.options.resources,
      concurrency: options.concurrency ?? this.options.concurrency,
      onEvent: options.onEvent,
      resumeRunId: options.resumeRunId,
      forceResume: options.forceResume,
      loadOutputs: options.loadOutputs,
    });
    const result = await stack.orchestrator.waitForRun(runId, { stack });
    // An orchestrator relying on the default waitForRun returns step results without values.
    if (options.loadOutputs === false || Object.keys(result.outputs).length) return result;
    return withFinalOutputs(this, stack, result);
  }
}
