/**
 * Steps: the unit of work in a pipeline. A step declares the artifact names
 * it consumes (`inputs`) and produces (`outputs`); the pipeline graph comes
 * from matching those names.
 * @module
 */
import type { ResourceConfig } from "./component.ts";
import type { StackLike } from "./contracts.ts";
import { PipelineDefinitionError } from "./errors.ts";

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
  runId: string;
  step: string;
  /** 1 for the first attempt. */
  attempt: number;
  /** Aborted when the step times out or the run is cancelled. */
  signal: AbortSignal;
  /** Log a line attributed to this step. */
  log(message: string): void;
  /** The stack the step runs on, when the orchestrator provides it (sandboxed plugin steps need it). */
  stack?: StackLike;
  /** Name of the pipeline the step belongs to. */
  pipeline?: string;
  /** Module the pipeline was defined in, when known (executors that run steps elsewhere import it). */
  source?: string;
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
  readonly name: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly options: StepOptions;
  readonly fn: StepFn;
  /** Source of `fn` plus options; hashed into the cache key. */
  readonly codeHashInput: string;
}

/**
 * Define a step.
 *
 * ```ts
 * import { step } from "./mod.ts";
 * const split = step({ name: "split", inputs: ["rows"], outputs: ["train", "test"] },
 *   ({ rows }) => ({ train: rows.slice(0, 100), test: rows.slice(100) }));
 * ```
 *
 * A step with one output returns the value itself; with several outputs it
 * returns an object keyed by output name.
 */
export function step(options: StepOptions, fn: StepFn): Step {
  if (!options || typeof options.name !== "string" || !options.name) {
    throw new PipelineDefinitionError("step(): options.name is required", {
      hint: 'write step({ name: "my_step", outputs: ["x"] }, fn)',
    });
  }
  if (typeof fn !== "function") {
    throw new PipelineDefinitionError(
      `step "${options.name}": the second argument must be a function`,
    );
  }
  if (!/^[A-Za-z_][\w.-]*$/.test(options.name)) {
    throw new PipelineDefinitionError(`step name "${options.name}" is not valid`, {
      hint: "use letters, digits, _, - and . only, starting with a letter or _",
    });
  }
  const inputs = [...(options.inputs ?? [])];
  const outputs = [...(options.outputs ?? [])];
  const dupOut = outputs.find((o, i) => outputs.indexOf(o) !== i);
  if (dupOut) {
    throw new PipelineDefinitionError(`step "${options.name}" lists output "${dupOut}" twice`);
  }
  const codeHashInput = JSON.stringify({
    fn: fn.toString(),
    inputs,
    outputs,
    params: options.params ?? null,
    salt: options.cacheSalt ?? null,
  });
  return Object.freeze({
    name: options.name,
    inputs,
    outputs,
    options: { ...options },
    fn,
    codeHashInput,
  });
}

/** Normalize what a step function returned into a map of outputs. */
export function collectOutputs(s: Step, returned: unknown): Record<string, unknown> {
  if (s.outputs.length === 0) return {};
  if (s.outputs.length === 1) return { [s.outputs[0]]: returned };
  if (!returned || typeof returned !== "object") {
    throw new PipelineDefinitionError(
      `step "${s.name}" declares outputs ${s.outputs.join(", ")} but returned ${typeof returned}`,
      { hint: `return an object with keys ${s.outputs.join(", ")}` },
    );
  }
  const obj = returned as Record<string, unknown>;
  const missing = s.outputs.filter((o) => !(o in obj));
  if (missing.length) {
    throw new PipelineDefinitionError(
      `step "${s.name}" did not return output(s) ${missing.join(", ")}`,
      { hint: `return an object with keys ${s.outputs.join(", ")}` },
    );
  }
  const out: Record<string, unknown> = {};
  for (const o of s.outputs) out[o] = obj[o];
  return out;
}
