/**
 * The start of a run's record: a new run, or an earlier one being resumed,
 * recorded `running` and driven by this process (pid, host, heartbeat); and
 * the message a cancelled run is recorded with.
 * @module
 */
import { describeError } from "./errors.ts";
import { pipelineHash, type PipelineSpec } from "./graph.ts";
import type { StepRunRecord } from "./records.ts";
import { driverFields, RunCancelled } from "./run_liveness.ts";
import type { RunPipelineOptions } from "./contracts.ts";
import { pipelineShape } from "./pipeline_shape.ts";

/** What {@linkcode recordRunStart} found and decided. */
export interface RunStart {
  /** Steps that completed in the earlier attempt of a resumed run. */
  previous: Map<string, StepRunRecord>;
  /** The run-level cache setting (a resumed run keeps its own unless told otherwise). */
  cache: boolean;
}

/**
 * Record the run as `running`, driven by this process (pid, host, heartbeat): a new run, or an
 * earlier one being resumed, whose completed steps are returned for reuse.
 */
export async function recordRunStart(
  pipeline: PipelineSpec,
  options: RunPipelineOptions & { runId: string },
): Promise<RunStart> {
  const { stack, runId } = options;
  const meta = stack.metadataStore;
  const previous = new Map<string, StepRunRecord>();
  if (!options.resumeRunId) {
    const cache = options.cache !== false;
    await meta.createRun({
      runId,
      pipeline: pipeline.name,
      status: "running",
      stack: stack.name,
      params: options.params ?? {},
      startedAt: Date.now(),
      pipelineHash: pipelineHash(pipeline),
      // The DAG's shape, so readers (flowyml ui) can draw pending steps too.
      extra: {
        ...(pipeline.source ? { source: pipeline.source } : {}),
        graph: pipelineShape(pipeline),
      },
      ...driverFields(),
      cache,
    });
    return { previous, cache };
  }
  const before = await meta.getRun(options.resumeRunId);
  for (const r of await meta.listStepRuns(options.resumeRunId)) {
    if ((r.status === "completed" || r.status === "cached") && r.outputs) previous.set(r.step, r);
  }
  const cache = options.cache ?? before?.cache ?? true;
  await meta.updateRun(runId, {
    status: "running",
    endedAt: undefined,
    error: undefined,
    ...driverFields(),
    cache,
  });
  return { previous, cache };
}

/** The run's error message when it was cancelled, naming the steps it interrupted. */
export function cancelMessage(reason: unknown, interrupted: string[]): string {
  const why = reason instanceof RunCancelled ? reason.reason : describeError(reason);
  const steps = interrupted.map((n) => `"${n}"`).join(", ");
  return `run cancelled (${why})` +
    (interrupted.length ? ` while step${interrupted.length > 1 ? "s" : ""} ${steps} ran` : "");
}
