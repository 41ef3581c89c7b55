/**
 * The shape of a pipeline (step names and the artifact names each consumes and
 * produces), recorded in a run's `extra.graph` when it starts so readers such
 * as `flowyml ui` can draw the whole DAG, pending steps included, without
 * importing the pipeline's code.
 * @module
 */
import type { PipelineSpec } from "./contracts.ts";

/** One step of a recorded pipeline shape. */
export interface StepShape {
  /** Step name. */
  name: string;
  /** Artifact names it consumes. */
  inputs: string[];
  /** Artifact names it produces. */
  outputs: string[];
}

/** The steps of `pipeline` with their input and output names, in the order they were added. */
export function pipelineShape(pipeline: PipelineSpec): StepShape[] {
  return pipeline.steps.map((s) => ({
    name: s.name,
    inputs: [...s.inputs],
    outputs: [...s.outputs],
  }));
}

/** The shape recorded in a run's `extra`, when there is a well-formed one. */
export function recordedShape(extra: Record<string, unknown> | undefined): StepShape[] | undefined {
  const g = extra?.graph;
  if (!Array.isArray(g)) return undefined;
  const ok = g.every((s) =>
    s && typeof s.name === "string" && Array.isArray(s.inputs) && Array.isArray(s.outputs)
  );
  return ok ? g as StepShape[] : undefined;
}
