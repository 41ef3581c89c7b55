/**
 * What a step's outcome writes to the metadata store, in one place: the
 * completion of an attempt (step run, artifacts, lineage, metrics, cache
 * entry, in one transaction), reused outputs (cache hit or resumed run), a
 * failure and a cancellation. Each also settles the step in the
 * {@linkcode RunState}. {@linkcode completionOf} is the one outcome builder,
 * shared with `flowyml step run` (kernel/step_job.ts).
 * @module
 */
import type { PipelineSpec } from "./contracts.ts";
import type { StepCompletion } from "./metadata_store.ts";
import { describeError, StepFailedError } from "./errors.ts";
import type { ArtifactRef, CacheEntry, LineageEdge, StepRunRecord } from "./records.ts";
import type { RunLiveness } from "./run_liveness.ts";
import { testCrashPoint } from "./run_liveness.ts";
import { cancelMessage } from "./run_start.ts";
import type { RunState } from "./run_state.ts";
import type { Step } from "./step.ts";
import type { Dispatch, StepTaskResult } from "./step_runner.ts";
import { cacheParamHashes } from "./cache.ts";

/** What the attempt loop of every step of a run shares. */
export interface StepEnv {
  /** The run's state. */
  run: RunState;
  /** The pipeline (its options are the steps' defaults). */
  pipeline: PipelineSpec;
  /** Run params. */
  params: Record<string, unknown>;
  /** Cancellation and lease of the run. */
  live: RunLiveness;
  /** Steps completed by an earlier attempt of a resumed run. */
  previous: Map<string, StepRunRecord>;
  /** Whether the run uses the cache. */
  cache: boolean;
  /** Code identities of the steps (kernel/code_identity.ts). */
  identities: Map<string, string>;
  /** Type of the stack's executor, named in late-timeout errors. */
  executorType: string;
  /** Sends an attempt where it runs. */
  dispatch: Dispatch;
  /** A "running" record is written for attempts lasting longer than this. */
  runningDelayMs: number;
  /** The dispatcher enforces timeouts itself. */
  dispatchEnforcesTimeout: boolean;
  /** Every reader of the run's artifacts reaches the metadata store (inline outputs may be reused). */
  inline: boolean;
}

/** One step of a run, about to run: what every attempt and record of it uses. */
export interface StepPlan {
  /** The step. */
  step: Step;
  /** When it started (ms since the epoch). */
  started: number;
  /** Its input references. */
  inputs: Record<string, ArtifactRef>;
  /** The params it may see. */
  visible: Record<string, unknown>;
  /** Whether it may use (and fill) the cache. */
  useCache: boolean;
  /** Its cache key. */
  key: string;
}

/** Lineage edges of one step's inputs or outputs. */
function lineageEdges(
  runId: string,
  step: string,
  edges: { direction: "input" | "output"; refs: Record<string, ArtifactRef> },
): LineageEdge[] {
  const { direction, refs } = edges;
  return Object.entries(refs).map(([name, r]) => ({
    runId,
    step,
    direction,
    name,
    hash: r.hash,
    uri: r.uri,
  }));
}

/** Lineage edges of one step: its inputs, then its outputs. */
function lineageOf(
  runId: string,
  step: string,
  refs: { inputs: Record<string, ArtifactRef>; outputs: Record<string, ArtifactRef> },
): LineageEdge[] {
  return [
    ...lineageEdges(runId, step, { direction: "input", refs: refs.inputs }),
    ...lineageEdges(runId, step, { direction: "output", refs: refs.outputs }),
  ];
}

/** What {@linkcode completionOf} builds a completion from. */
export interface CompletedStep {
  /** The step run record (status `completed`). */
  stepRun: StepRunRecord;
  /** Inputs the step read. */
  inputs: Record<string, ArtifactRef>;
  /** What the attempt produced. */
  result: StepTaskResult;
  /** Cache entry to write, when the step is cacheable. */
  cacheEntry?: CacheEntry;
}

/** The one transaction a completed step attempt is recorded in. */
export function completionOf(c: CompletedStep): StepCompletion {
  const { runId, step, endedAt } = c.stepRun;
  const at = endedAt ?? Date.now();
  const outputs = c.result.outputs;
  return {
    artifacts: Object.entries(outputs).map(([name, r]) => ({
      ...r,
      runId,
      step,
      name,
      createdAt: at,
    })),
    lineage: lineageOf(runId, step, { inputs: c.inputs, outputs }),
    metrics: Object.entries(c.result.metrics ?? {}).map(([name, value]) => ({
      runId,
      step,
      name,
      value,
      at,
    })),
    stepRun: c.stepRun,
    cacheEntry: c.cacheEntry,
  };
}

/** Record a completed attempt and settle the step. */
export async function recordCompleted(
  env: StepEnv,
  plan: StepPlan,
  done: { attempt: number; result: StepTaskResult },
): Promise<void> {
  const { run } = env;
  const { step: s, started, key } = plan;
  const res = done.result;
  const ended = Date.now();
  for (const [name, r] of Object.entries(res.outputs)) run.produced(name, r);
  const stepRun: StepRunRecord = {
    runId: run.runId,
    step: s.name,
    status: "completed",
    cached: false,
    attempts: done.attempt,
    startedAt: started,
    endedAt: ended,
    durationMs: ended - started,
    cacheKey: key,
    outputs: res.outputs,
    worker: res.worker,
  };
  const cacheEntry = plan.useCache
    ? {
      key,
      readAllParams: res.readParams === "*",
      paramHashes: cacheParamHashes(plan.visible, res.readParams),
      outputs: res.outputs,
      runId: run.runId,
      step: s.name,
      createdAt: ended,
    }
    : undefined;
  // Group commit: the completion is committed with those of the next millisecond, in order, and
  // before the run's end; a process killed before that re-runs the step on resume (its cache
  // entry and its inline outputs are committed together, or not at all).
  await run.stack.metadataStore.recordStepCompletion(
    completionOf({ stepRun, inputs: plan.inputs, result: res, cacheEntry }),
    { defer: true },
  );
  testCrashPoint("completion"); // test-only: a driver dying right after a completion
  run.settle(s.name, {
    status: "completed",
    cached: false,
    durationMs: ended - started,
    attempts: done.attempt,
    outputs: res.outputs,
    worker: res.worker,
  });
}

/**
 * Record outputs reused from the cache (`hit.runId` computed them) or from
 * the earlier attempt of a resumed run (`prev`), and settle the step.
 */
export async function recordReused(
  env: StepEnv,
  plan: StepPlan,
  hit: { outputs: Record<string, ArtifactRef>; runId: string; prev?: StepRunRecord },
): Promise<void> {
  const { run } = env;
  const { prev } = hit;
  const { step: s, started } = plan;
  const runId = run.runId;
  const ended = Date.now();
  const rec: StepRunRecord = {
    runId,
    step: s.name,
    status: prev ? prev.status : "cached",
    cached: !prev || prev.cached,
    attempts: prev?.attempts ?? 0,
    startedAt: started,
    endedAt: ended,
    durationMs: ended - started,
    cacheKey: plan.key,
    outputs: hit.outputs,
    worker: prev?.worker,
  };
  if (!prev) {
    const meta = run.stack.metadataStore;
    // The run that computed these outputs logged metrics for them: show them on this run too.
    const earlier = await meta.listMetrics({ runId: hit.runId, step: s.name });
    await meta.recordStepCompletion({
      stepRun: rec,
      metrics: earlier.map((m) => ({ ...m, runId, at: ended })),
      lineage: lineageOf(runId, s.name, { inputs: plan.inputs, outputs: hit.outputs }),
    }, { defer: true });
  }
  for (const [n, r] of Object.entries(hit.outputs)) run.produced(n, r);
  run.settle(s.name, {
    status: rec.status,
    cached: rec.cached,
    durationMs: rec.durationMs!,
    attempts: rec.attempts,
    outputs: hit.outputs,
    worker: rec.worker,
  });
}

/** Record the step failed after `attempts` attempts, settle it, and throw its error. */
export async function recordFailed(
  env: StepEnv,
  plan: StepPlan,
  failure: { attempts: number; error: unknown },
): Promise<never> {
  const { run } = env;
  const { step: s, started } = plan;
  const { attempts, error: lastErr } = failure;
  const ended = Date.now();
  await run.stack.metadataStore.upsertStepRun({
    runId: run.runId,
    step: s.name,
    status: "failed",
    cached: false,
    attempts,
    startedAt: started,
    endedAt: ended,
    durationMs: ended - started,
    cacheKey: plan.key,
    error: describeError(lastErr),
    errorStack: lastErr instanceof Error ? lastErr.stack : undefined,
  });
  run.settle(s.name, {
    status: "failed",
    cached: false,
    durationMs: ended - started,
    attempts,
    error: describeError(lastErr),
    outputs: {},
  });
  throw new StepFailedError(s.name, lastErr, attempts);
}

/** A step interrupted by cancellation: recorded `cancelled`, and the run stops. */
export async function recordCancelled(
  env: StepEnv,
  plan: StepPlan,
  attempt: number,
): Promise<never> {
  const { run, live } = env;
  const step = plan.step.name;
  run.interrupted.push(step);
  const ended = Date.now();
  const error = cancelMessage(live.signal.reason, [step]);
  if (!live.lost) {
    await run.stack.metadataStore.upsertStepRun({
      runId: run.runId,
      step,
      status: "cancelled",
      cached: false,
      attempts: attempt,
      startedAt: plan.started,
      endedAt: ended,
      durationMs: ended - plan.started,
      cacheKey: plan.key,
      error,
    });
  }
  run.settle(step, {
    status: "cancelled",
    cached: false,
    durationMs: ended - plan.started,
    attempts: attempt,
    error,
    outputs: {},
  });
  throw live.signal.reason;
}
