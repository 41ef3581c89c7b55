/**
 * Final outputs of a run read back from the artifact store: while the engine
 * drives the run ({@linkcode FinalOutputs}), and for results an orchestrator
 * returned without values (the default `waitForRun` of an orchestrator that
 * implements only `runPipeline` and `getRunStatus`).
 * @module
 */
import { loadValue } from "./artifacts.ts";
import type { PipelineSpec, RunResult, StackLike } from "./contracts.ts";
import type { ArtifactRef } from "./records.ts";
import { withRunContext } from "./run_context.ts";

/**
 * Fill `result.outputs` with the outputs no step consumes, loaded from the
 * stack's artifact store, verified against their recorded hashes and under
 * the run's context, as the engine loads them. Values already present are
 * kept. A corrupt or missing object is an error naming the output, never a
 * silent `undefined`.
 */
export async function withFinalOutputs(
  pipeline: PipelineSpec,
  stack: StackLike,
  result: RunResult,
): Promise<RunResult> {
  const consumed = new Set(pipeline.steps.flatMap((s) => s.inputs));
  const outputs = { ...result.outputs };
  const { runId } = result;
  for (const r of Object.values(result.steps)) {
    for (const [name, ref] of Object.entries(r.outputs ?? {})) {
      if (consumed.has(name) || name in outputs) continue;
      outputs[name] = await loadFinalOutput(stack, runId, name, ref);
    }
  }
  return { ...result, outputs };
}

/**
 * The final outputs of a run the engine drives: those not in memory (remote
 * runs) are loaded as soon as they exist, so loading overlaps the rest of the
 * run instead of all happening after the last step.
 */
export class FinalOutputs {
  #stack: StackLike;
  #runId: string;
  #consumed: Set<string>;
  #values: Map<string, unknown>;
  #load: boolean;
  #loading = new Map<string, Promise<unknown>>();

  /** Outputs of run `runId`; `consumed` names the artifacts some step reads (not final). */
  constructor(
    stack: StackLike,
    runId: string,
    options: { consumed: Set<string>; values: Map<string, unknown>; load: boolean },
  ) {
    this.#stack = stack;
    this.#runId = runId;
    this.#consumed = options.consumed;
    this.#values = options.values;
    this.#load = options.load;
  }

  /** Artifact `name` was produced: a final output not in memory starts loading. */
  produced(name: string, ref: ArtifactRef): void {
    if (!this.#load || this.#consumed.has(name) || this.#values.has(ref.hash)) return;
    const p = loadFinalOutput(this.#stack, this.#runId, name, ref);
    p.catch(() => {}); // awaited (and thrown) when the run returns its outputs
    this.#loading.set(name, p);
  }

  /** The output values: those still in memory, plus the final outputs loaded from the store. */
  async collect(refs: Map<string, ArtifactRef>): Promise<Record<string, unknown>> {
    const outputs: Record<string, unknown> = {};
    await Promise.all([...refs].map(async ([name, r]) => {
      if (this.#values.has(r.hash)) outputs[name] = this.#values.get(r.hash);
      else if (this.#load && !this.#consumed.has(name)) {
        outputs[name] = await (this.#loading.get(name) ??
          loadFinalOutput(this.#stack, this.#runId, name, r));
      }
    }));
    return outputs;
  }
}

/**
 * Load a final output of a run from the store, verified against its recorded hash and under the
 * run's context (a `type: wasm` store audits the read under this run). A corrupt or missing object
 * is an error, never a silent `undefined`.
 */
function loadFinalOutput(
  stack: StackLike,
  runId: string,
  name: string,
  ref: ArtifactRef,
): Promise<unknown> {
  return withRunContext(
    { runId, stack },
    () =>
      loadValue(stack.artifactStore, ref, {
        label: `final output "${name}" of run ${runId}`,
        blobs: stack.metadataStore, // small outputs stored inline (kernel/artifacts.ts)
      }),
  );
}
