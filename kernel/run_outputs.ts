/**
 * Final outputs of a run read back from the artifact store, for results an
 * orchestrator returned without values (the default `waitForRun` of an
 * orchestrator that implements only `runPipeline` and `getRunStatus`).
 * @module
 */
import { loadValue } from "./artifacts.ts";
import type { PipelineSpec, RunResult, StackLike } from "./contracts.ts";

/**
 * Fill `result.outputs` with the outputs no step consumes, loaded (and
 * verified) from the stack's artifact store. Values already present are kept;
 * an output that cannot be loaded is left out.
 */
export async function withFinalOutputs(
  pipeline: PipelineSpec,
  stack: StackLike,
  result: RunResult,
): Promise<RunResult> {
  const consumed = new Set(pipeline.steps.flatMap((s) => s.inputs));
  const outputs = { ...result.outputs };
  for (const [step, r] of Object.entries(result.steps)) {
    for (const [name, ref] of Object.entries(r.outputs ?? {})) {
      if (consumed.has(name) || name in outputs) continue;
      try {
        outputs[name] = await loadValue(stack.artifactStore, ref, {
          label: `output "${name}" of step "${step}"`,
        });
      } catch {
        // not loadable (e.g. deleted since): left out, as the engine does
      }
    }
  }
  return { ...result, outputs };
}
