/**
 * The start of a run's record: a new run, or an earlier one being resumed,
 * recorded `running` and driven by this process (pid, host, heartbeat); a run
 * submitted to a system that runs it (Vertex, Airflow), recorded `pending`,
 * and its end; and the message a cancelled run is recorded with.
 * @module
 */
import { ConfigError, describeError } from "./errors.ts";
import { pipelineHash, type PipelineSpec } from "./graph.ts";
import type { RunRecord, RunStatus, StepRunRecord } from "./records.ts";
import { assertNotLive, driverFields, RunCancelled } from "./run_liveness.ts";
import type { RunPipelineOptions } from "./contracts.ts";
import type { MetadataStore } from "./metadata_store.ts";
import { pipelineShape } from "./pipeline_shape.ts";
import { checkParams } from "./params.ts";

/** What {@linkcode recordRunStart} found and decided. */
export interface RunStart {
  /** Steps that completed in the earlier attempt of a resumed run. */
  previous: Map<string, StepRunRecord>;
  /** The run-level cache setting (a resumed run keeps its own unless told otherwise). */
  cache: boolean;
  /** This driver's lease token on the run: it writes the run's end only while it holds it. */
  lease: string;
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
  const lease = crypto.randomUUID();
  if (!options.resumeRunId) {
    const run = newRunRecord(pipeline, options);
    await meta.createRun({ ...run, status: "running", ...driverFields(), lease });
    return { previous, cache: run.cache!, lease };
  }
  const before = await meta.getRun(options.resumeRunId);
  if (!before) throw new ConfigError(`no run "${runId}" in stack "${stack.name}"`);
  // One driver at a time: a live driver's run is refused (unless forced), and the takeover is a
  // compare-and-set on the lease token, so of two resumes racing, one wins.
  if (!options.forceResume) assertNotLive(before);
  const cache = options.cache ?? before.cache ?? true;
  const claimed = await meta.updateRunLeased(runId, {
    status: "running",
    endedAt: undefined,
    error: undefined,
    ...driverFields(),
    cache,
    lease,
  }, { lease: before.lease ?? null });
  if (!claimed) {
    throw new ConfigError(`run "${runId}" was taken over by another process just now`, {
      hint: "see `flowyml runs show` for who drives it; resume it once that process is gone",
    });
  }
  const done = (await meta.listStepRuns(runId)).filter((r) =>
    (r.status === "completed" || r.status === "cached") && r.outputs
  );
  // Each is reused only if its cache key is today's and its outputs verify, checked when the
  // step's turn comes (kernel/step_attempts.ts): no download of outputs a changed step replaces.
  for (const r of done) previous.set(r.step, r);
  return { previous, cache, lease };
}

/** A new run's record: what every run starts with, whoever drives it. */
function newRunRecord(
  pipeline: PipelineSpec,
  options: RunPipelineOptions & { runId: string; extra?: Record<string, unknown> },
): RunRecord {
  checkParams(options.params);
  return {
    runId: options.runId,
    pipeline: pipeline.name,
    status: "pending",
    stack: options.stack.name,
    params: options.params ?? {},
    startedAt: Date.now(),
    pipelineHash: pipelineHash(pipeline),
    // The DAG's shape, so readers (flowyml ui) can draw pending steps too.
    extra: {
      ...options.extra,
      ...(pipeline.source ? { source: pipeline.source } : {}),
      graph: pipelineShape(pipeline),
    },
    cache: options.cache !== false,
  };
}

/**
 * Record a run submitted to a system that runs its steps itself (Vertex, Airflow): `pending`,
 * with no driving process (no lease), `extra` naming where it runs. Update its status while it
 * runs and end it with {@linkcode recordRunEnd}.
 */
export async function recordRunSubmitted(
  pipeline: PipelineSpec,
  options: RunPipelineOptions & { runId: string; extra?: Record<string, unknown> },
): Promise<RunRecord> {
  const run = newRunRecord(pipeline, options);
  await options.stack.metadataStore.createRun(run);
  return run;
}

/**
 * Record the status of a submitted run while this process follows it (see
 * {@linkcode recordRunSubmitted}), with a heartbeat: readers show a run nobody follows any more
 * as `crashed` once its last heartbeat is stale (kernel/run_liveness.ts).
 */
export async function recordRunStatus(
  meta: MetadataStore,
  runId: string,
  status: RunStatus,
): Promise<void> {
  await meta.updateRun(runId, { status, heartbeatAt: Date.now() });
}

/**
 * Record the end of a submitted run (see {@linkcode recordRunSubmitted}): its final status and,
 * when it did not complete, why.
 */
export async function recordRunEnd(
  meta: MetadataStore,
  runId: string,
  end: { status: RunStatus; error?: string },
): Promise<void> {
  const error = end.error === undefined ? {} : { error: end.error };
  await meta.updateRun(runId, { status: end.status, endedAt: Date.now(), ...error });
}

/** The run's error message when it was cancelled, naming the steps it interrupted. */
export function cancelMessage(reason: unknown, interrupted: string[]): string {
  const why = reason instanceof RunCancelled ? reason.reason : describeError(reason);
  const steps = interrupted.map((n) => `"${n}"`).join(", ");
  return `run cancelled (${why})` +
    (interrupted.length ? ` while step${interrupted.length > 1 ? "s" : ""} ${steps} ran` : "");
}
