/**
 * Final outputs of a run read back from the artifact store, for results an
 * orchestrator returned without values (the default `waitForRun` of an
 * orchestrator that implements only `runPipeline` and `getRunStatus`).
 * @module
 */
import { loadValue } from "./artifacts.ts";
import type { PipelineSpec, RunResult, StackLike } from "./contracts.ts";
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
      outputs[name] = await withRunContext(
        { runId, stack },
        () =>
          loadValue(stack.artifactStore, ref, { label: `final output "${name}" of run ${runId}` }),
      );
    }
  }
  return { ...result, outputs };
}
