/**
 * Steps: the unit of work in a pipeline. A step declares the artifact names
 * it consumes (`inputs`) and produces (`outputs`); the pipeline graph comes
 * from matching those names.
 * @module
 */
import type { Step, StepFn, StepOptions } from "./contracts.ts";
import { PipelineDefinitionError } from "./errors.ts";
import { callerModule } from "./code_identity.ts";

export type { ExecutionOptions, Step, StepContext, StepFn, StepOptions } from "./contracts.ts";

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
 * returns an object keyed by output name. The module calling `step()` is
 * recorded: it and the local modules it imports are part of the step's code
 * identity (see docs/caching.md).
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
    module: callerModule(),
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
