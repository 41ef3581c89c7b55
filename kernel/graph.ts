/**
 * The pipeline graph: wiring steps by input/output names, with the checks
 * done when a pipeline is built (missing input, duplicate output, cycle,
 * duplicate step name).
 * @module
 */
import { PipelineDefinitionError } from "./errors.ts";
import type { PipelineSpec, Step } from "./contracts.ts";

export type { PipelineSpec } from "./contracts.ts";
import { hashValue } from "./hash.ts";

/** The validated graph of a pipeline. */
export interface PipelineGraph {
  /** Steps in a valid execution order. */
  order: Step[];
  /** Step name → names of steps it depends on. */
  upstream: Map<string, string[]>;
  /** Step name → names of steps that depend on it. */
  downstream: Map<string, string[]>;
  /** Artifact name → producing step name. */
  producer: Map<string, string>;
}

/**
 * Validate and wire a list of steps. Throws {@linkcode PipelineDefinitionError}
 * naming the steps involved.
 */
export function buildGraph(pipelineName: string, steps: readonly Step[]): PipelineGraph {
  const byName = new Map<string, Step>();
  for (const s of steps) {
    if (byName.has(s.name)) {
      throw new PipelineDefinitionError(
        `pipeline "${pipelineName}": two steps are named "${s.name}"`,
        { hint: "give every step a unique name" },
      );
    }
    byName.set(s.name, s);
  }
  const producer = new Map<string, string>();
  for (const s of steps) {
    for (const o of s.outputs) {
      const other = producer.get(o);
      if (other) {
        throw new PipelineDefinitionError(
          `pipeline "${pipelineName}": output "${o}" is produced by both "${other}" and "${s.name}"`,
          { hint: "rename one of the outputs" },
        );
      }
      producer.set(o, s.name);
    }
  }
  const upstream = new Map<string, string[]>();
  const downstream = new Map<string, string[]>();
  for (const s of steps) downstream.set(s.name, []);
  for (const s of steps) {
    const ups: string[] = [];
    for (const i of s.inputs) {
      const p = producer.get(i);
      if (!p) {
        const known = [...producer.keys()];
        throw new PipelineDefinitionError(
          `pipeline "${pipelineName}": step "${s.name}" needs input "${i}", which no step produces`,
          {
            hint: known.length
              ? `add a step with outputs: ["${i}"], or use one of: ${known.join(", ")}`
              : `add a step with outputs: ["${i}"]`,
          },
        );
      }
      if (!ups.includes(p)) ups.push(p);
    }
    upstream.set(s.name, ups);
    for (const u of ups) downstream.get(u)!.push(s.name);
  }
  // Kahn's algorithm; leftovers form a cycle.
  const indeg = new Map([...upstream].map(([k, v]) => [k, v.length]));
  const queue = steps.filter((s) => indeg.get(s.name) === 0).map((s) => s.name);
  const order: Step[] = [];
  while (queue.length) {
    const n = queue.shift()!;
    order.push(byName.get(n)!);
    for (const d of downstream.get(n)!) {
      indeg.set(d, indeg.get(d)! - 1);
      if (indeg.get(d) === 0) queue.push(d);
    }
  }
  if (order.length !== steps.length) {
    const stuck = steps.filter((s) => indeg.get(s.name)! > 0).map((s) => s.name);
    throw new PipelineDefinitionError(
      `pipeline "${pipelineName}": steps ${stuck.map((s) => `"${s}"`).join(", ")} form a cycle`,
      { hint: "a step cannot depend, directly or not, on its own outputs" },
    );
  }
  return { order, upstream, downstream, producer };
}

/** A hash of the pipeline's definition: each step's code and wiring. */
export function pipelineHash(spec: PipelineSpec): string {
  return hashValue({ name: spec.name, steps: spec.steps.map((s) => s.codeHashInput) });
}

const graphs = new WeakMap<
  PipelineSpec,
  { steps: readonly Step[]; count: number; graph: PipelineGraph }
>();

/**
 * The validated graph of `pipeline`, built once: later calls return the same
 * graph while the pipeline's steps are unchanged (a step added rebuilds it).
 */
export function graphOf(pipeline: PipelineSpec): PipelineGraph {
  const had = graphs.get(pipeline);
  if (had && had.steps === pipeline.steps && had.count === pipeline.steps.length) return had.graph;
  const graph = buildGraph(pipeline.name, pipeline.steps);
  graphs.set(pipeline, { steps: pipeline.steps, count: pipeline.steps.length, graph });
  return graph;
}
