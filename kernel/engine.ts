/**
 * The run engine: owns a run from its first record to its result. It records
 * the run's start (kernel/run_start.ts), keeps the run's state
 * (kernel/run_state.ts), starts ready steps with bounded concurrency in the
 * order a {@linkcode StepOrder} gives (kernel/scheduling.ts: graph order, or
 * an external scheduler), runs each step's attempts (kernel/step_attempts.ts:
 * cache, dispatch, retries, timeouts) and records the run's end. How an
 * attempt is dispatched (in process, to a queue, a container) is the
 * orchestrator's hook.
 * @module
 */
import type { RunPipelineOptions, RunResult } from "./contracts.ts";
import { FlowymlError } from "./errors.ts";
import { graphOf, type PipelineGraph, type PipelineSpec } from "./graph.ts";
import type { Step } from "./step.ts";
import type { Dispatch, ValueCache } from "./step_runner.ts";
import { notifyRunFinished, notifyRunStarted } from "./lifecycle.ts";
import { GraphOrder, ScheduleGate, type StepOrder, type StepScheduler } from "./scheduling.ts";
import { codeIdentities } from "./code_identity.ts";
import { type RunLiveness, startRunLiveness } from "./run_liveness.ts";
import { cancelMessage, recordRunStart, type RunStart } from "./run_start.ts";
import { RunState } from "./run_state.ts";
import { runStep } from "./step_attempts.ts";
import type { StepEnv } from "./step_records.ts";

export type { Dispatch };

/** Steps still running after this long get a "running" step record. */
const RUNNING_RECORD_DELAY_MS = 50;

/** Options of {@linkcode executeRun}. */
export interface ExecuteRunOptions extends RunPipelineOptions {
  /** Id of the run to execute (new, or an earlier one being resumed). */
  runId: string;
  /** Sends each step attempt to where it runs (in process, a queue, …). */
  dispatch: Dispatch;
  /** Values produced in this process, shared with the dispatcher. */
  values?: ValueCache;
  /** Resolves once the run record exists. */
  onRecorded?: () => void;
  /**
   * A step attempt still unfinished after this long gets a "running" record
   * (default 50 ms; shorter ones go straight to their final record). Queued
   * dispatchers raise it, since a submitted step may wait long for a worker.
   */
  runningRecordDelayMs?: number;
  /**
   * The dispatcher enforces each attempt's `timeoutMs` itself (from the
   * moment the step starts running), so the engine does not time dispatch.
   */
  dispatchEnforcesTimeout?: boolean;
  /**
   * Let an external scheduler decide which ready step starts when (see
   * kernel/scheduling.ts). Without it, ready steps start in graph order.
   * Steps it never submits are skipped and the run fails naming them.
   */
  scheduler?: StepScheduler;
  /** The pipeline's graph when the caller already built it (default: {@linkcode graphOf}). */
  graph?: PipelineGraph;
  /**
   * Every reader of this run's artifacts (its steps, wherever they run) reaches the stack's
   * metadata store, so outputs stored inline there (kernel/artifacts.ts) may be reused from the
   * cache. Default `false`: a cached output stored inline is then a miss.
   */
  inlineArtifacts?: boolean;
}

/** A new run id: sortable by time, unique. */
export function newRunId(pipeline: string): string {
  const t = new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14);
  return `${pipeline.replace(/[^\w.-]/g, "_")}-${t}-${crypto.randomUUID().slice(0, 8)}`;
}

/**
 * Execute a pipeline run to completion and return its result. Failed steps
 * mark the run failed and their downstream steps skipped; independent
 * branches continue, and completed outputs are kept and recorded. The run is
 * cancelled (recorded `cancelled`, running steps aborted) by
 * `cancelActiveRuns()` (kernel/run_liveness.ts), e.g. on SIGINT.
 */
export async function executeRun(
  pipeline: PipelineSpec,
  options: ExecuteRunOptions,
): Promise<RunResult> {
  const graph = options.graph ?? graphOf(pipeline);
  const start = await recordRunStart(pipeline, options);
  const live = startRunLiveness(options.stack.metadataStore, options.runId, {
    lease: start.lease,
  });
  try {
    const t0 = performance.now();
    const env = await prepareRun(pipeline, options, { ...start, live, graph });
    const order = options.scheduler
      ? new ScheduleGate(options.scheduler, {
        runId: options.runId,
        graph,
        concurrency: concurrencyOf(options),
      })
      : new GraphOrder(graph);
    await runSteps(env, order, concurrencyOf(options));
    await endSteps(env, order);
    return await finishRun(env, { lease: start.lease, t0 });
  } finally {
    live.stop();
  }
}

function concurrencyOf(options: ExecuteRunOptions): number {
  return Math.max(1, options.concurrency ?? 8);
}

/** The run's state and what every step's attempts share; emits `run_started`. */
async function prepareRun(
  pipeline: PipelineSpec,
  options: ExecuteRunOptions,
  run: RunStart & { live: RunLiveness; graph: PipelineGraph },
): Promise<StepEnv> {
  const { stack, runId } = options;
  const { live, graph } = run;
  const emit = options.onEvent ?? (() => {});
  const state = new RunState(graph, {
    runId,
    stack,
    emit,
    values: options.values,
    loadOutputs: options.loadOutputs,
    lost: () => live.lost,
  });
  const identities = await codeIdentities(pipeline.steps);
  options.onRecorded?.();
  notifyRunStarted(runId);
  emit({
    type: "run_started",
    runId,
    pipeline: pipeline.name,
    steps: graph.order.map((s) => s.name),
  });
  return {
    run: state,
    pipeline,
    params: options.params ?? {},
    live,
    previous: run.previous,
    cache: run.cache,
    identities,
    executorType: (stack.executor.constructor as { type?: string }).type ?? stack.executor.name,
    dispatch: options.dispatch,
    runningDelayMs: options.runningRecordDelayMs ?? RUNNING_RECORD_DELAY_MS,
    dispatchEnforcesTimeout: !!options.dispatchEnforcesTimeout,
    inline: !!options.inlineArtifacts,
  };
}

/** Steps started in one go before the engine lets other work (I/O, timers) run. */
const START_BURST = 64;

/**
 * Start steps as `order` offers them, at most `concurrency` at once, until
 * the run is idle: nothing running and nothing more to come (or cancelled).
 */
function runSteps(env: StepEnv, order: StepOrder, concurrency: number): Promise<void> {
  const { run, live } = env;
  let running = 0;
  let deferred = false;
  return new Promise<void>((resolveAll) => {
    const pump = () => {
      const stop = live.signal.aborted; // cancelled: start nothing more
      let burst = 0;
      while (!stop && running < concurrency) {
        // A long burst of starts yields to I/O (the first steps' submissions and results) first.
        if (++burst > START_BURST) {
          if (!deferred) {
            deferred = true;
            setTimeout(() => {
              deferred = false;
              pump();
            }, 0);
          }
          break;
        }
        const s = order.next();
        if (!s) break;
        if (!run.start(s.name)) continue;
        running++;
        order.started(s.name);
        runStep(env, s).then(() => stepDone(run, order, s), (err) => stepFailed(run, order, s, err))
          .finally(() => {
            running--;
            run.released(s);
            pump();
          });
      }
      if (running === 0 && (stop || !order.pending)) resolveAll();
    };
    run.onFinished = (step, result) => order.finished(step, result);
    for (const s of run.roots()) order.ready(s);
    live.signal.addEventListener("abort", pump, { once: true });
    order.start(pump);
    pump();
  });
}

/** `s` completed: its downstream steps that became ready are offered, then the order hears of it. */
function stepDone(run: RunState, order: StepOrder, s: Step): void {
  for (const d of run.completed(s)) order.ready(d);
  order.finished(s.name, run.results[s.name]);
}

/** `s` failed or was cancelled: its downstream steps are skipped, then the order hears of it. */
function stepFailed(run: RunState, order: StepOrder, s: Step, err: unknown): void {
  run.failed(s, err);
  const failed = {
    status: "failed",
    cached: false,
    durationMs: 0,
    attempts: 0,
    outputs: {},
  } as const;
  order.finished(s.name, run.results[s.name] ?? failed);
}

/** Skip the steps that never started: the run was cancelled, or the order left them out. */
async function endSteps(env: StepEnv, order: StepOrder): Promise<void> {
  const { run, live } = env;
  const waiting = run.waiting();
  if (live.signal.aborted) {
    await Promise.all(waiting.map((n) => run.skip(n, "the run was cancelled before it started")));
    return;
  }
  const left = order.leftOut(waiting);
  if (!left) return;
  await Promise.all(waiting.map((n) => run.skip(n, left.reason)));
  if (left.error) run.firstError = left.replaces ? left.error : run.firstError ?? left.error;
}

/** Record the run's end (while this process holds its lease), notify, and build the result. */
async function finishRun(
  env: StepEnv,
  options: { lease: string; t0: number },
): Promise<RunResult> {
  const { run, live } = env;
  const { runId, stack } = run;
  const cancelled = live.signal.aborted;
  if (cancelled) {
    run.firstError = new FlowymlError(cancelMessage(live.signal.reason, run.interrupted));
  }
  // Step completions are group-committed (kernel/step_records.ts): all are committed before
  // the run's end is recorded, and a failed commit fails the run.
  const flushed = await stack.metadataStore.flush().then(() => undefined, (err) => err);
  if (flushed && !run.firstError) run.firstError = flushed;
  const status = cancelled ? "cancelled" : run.firstError ? "failed" : "completed";
  if (!live.lost) {
    const end = { status, endedAt: Date.now(), error: run.firstError?.message } as const;
    await stack.metadataStore.updateRunLeased(runId, end, { lease: options.lease });
  }
  await stack.executor.runFinished(runId);
  await notifyRunFinished(runId);
  run.emit({ type: "run_finished", runId, status });
  return {
    runId,
    status,
    outputs: await run.outputs(),
    steps: run.results,
    error: run.firstError,
    durationMs: performance.now() - options.t0,
  };
}
