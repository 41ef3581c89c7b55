/**
 * The run engine: schedules a pipeline's steps by their dependencies with
 * bounded concurrency, applies the cache, retries and timeouts, and records
 * everything in the metadata store. Orchestrators call {@linkcode executeRun}
 * and choose how each step attempt is dispatched (in-process, or to a queue).
 * @module
 */
import type {
  RunEvent,
  RunPipelineOptions,
  RunResult,
  StackLike,
  StepResult,
} from "./contracts.ts";
import { describeError, FlowymlError, StepFailedError } from "./errors.ts";
import { isUnretryable } from "./permissions.ts";
import { buildGraph, type PipelineSpec } from "./graph.ts";
import type { ArtifactRecord, ArtifactRef, LineageEdge, StepRunRecord } from "./records.ts";
import type { Step } from "./step.ts";
import {
  type StepTask,
  type StepTaskResult,
  type ValueCache,
  visibleParams,
} from "./step_runner.ts";
import { loadValue } from "./artifacts.ts";
import { withRunContext } from "./run_context.ts";
import { notifyRunFinished, notifyRunStarted } from "./lifecycle.ts";
import { ScheduleGate, type StepScheduler } from "./scheduling.ts";
import { cacheKey, cacheParamHashes, lookupCache } from "./cache.ts";
import { codeIdentities, withCodeIdentity } from "./code_identity.ts";
import { type RunLiveness, startRunLiveness, testCrashPoint } from "./run_liveness.ts";
import { cancelMessage, recordRunStart, type RunStart } from "./run_start.ts";
import { checkDeadline, raceAbort } from "./timeouts.ts";

/** Steps still running after this long get a "running" step record. */
const RUNNING_RECORD_DELAY_MS = 50;

/** Sends one step attempt somewhere to run. */
export type Dispatch = (task: StepTask, step: Step, signal: AbortSignal) => Promise<StepTaskResult>;

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
  const start = await recordRunStart(pipeline, options);
  const live = startRunLiveness(options.stack.metadataStore, options.runId, {
    lease: start.lease,
  });
  try {
    return await driveRun(pipeline, options, { ...start, live });
  } finally {
    live.stop();
  }
}

async function driveRun(
  pipeline: PipelineSpec,
  options: ExecuteRunOptions,
  run: RunStart & { live: RunLiveness },
): Promise<RunResult> {
  const t0 = performance.now();
  const { stack, runId } = options;
  const { previous, live } = run;
  const meta = stack.metadataStore;
  const params = options.params ?? {};
  const graph = buildGraph(pipeline.name, pipeline.steps);
  const emit = (e: RunEvent) => options.onEvent?.(e);
  const values: ValueCache = options.values ?? new Map();
  const identities = await codeIdentities(pipeline.steps);
  const executorType = (stack.executor.constructor as { type?: string }).type ??
    stack.executor.name;
  const interrupted: string[] = [];
  options.onRecorded?.();
  notifyRunStarted(runId);
  emit({
    type: "run_started",
    runId,
    pipeline: pipeline.name,
    steps: graph.order.map((s) => s.name),
  });

  const refs = new Map<string, ArtifactRef>(); // artifact name -> ref
  const results: Record<string, StepResult> = {};
  const state = new Map<string, "waiting" | "running" | "done" | "failed" | "skipped">();
  for (const s of graph.order) state.set(s.name, "waiting");
  // How many consumers still need each artifact (frees memory early).
  const consumers = new Map<string, number>();
  for (const s of graph.order) {
    for (const i of s.inputs) consumers.set(i, (consumers.get(i) ?? 0) + 1);
  }
  const consumed = new Set(consumers.keys());
  // Final outputs not in memory (remote runs) are loaded as soon as they exist, so the loading
  // overlaps the rest of the run instead of all happening after the last step.
  const loading = new Map<string, Promise<unknown>>();
  const wantOutputs = options.loadOutputs !== false;
  const setRef = (name: string, r: ArtifactRef) => {
    refs.set(name, r);
    if (!wantOutputs || consumed.has(name) || values.has(r.hash)) return;
    const p = loadFinalOutput(stack, runId, name, r);
    p.catch(() => {}); // awaited (and thrown) when the run returns its outputs
    loading.set(name, p);
  };
  let firstError: Error | undefined;
  const concurrency = Math.max(1, options.concurrency ?? 8);
  const runningDelay = options.runningRecordDelayMs ?? RUNNING_RECORD_DELAY_MS;
  let running = 0;
  // Ready steps, kept in graph order; a step becomes ready when its last upstream is done.
  const index = new Map(graph.order.map((s, i) => [s.name, i]));
  const byName = new Map(graph.order.map((s) => [s.name, s]));
  const missing = new Map(graph.order.map((s) => [s.name, graph.upstream.get(s.name)!.length]));
  const ready: Step[] = graph.order.filter((s) => missing.get(s.name) === 0);
  const becomeReady = (s: Step) => {
    const i = index.get(s.name)!;
    let lo = 0, hi = ready.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (index.get(ready[mid].name)! < i) lo = mid + 1;
      else hi = mid;
    }
    ready.splice(lo, 0, s);
  };

  let pump = () => {};
  const gate = options.scheduler
    ? new ScheduleGate({ runId, graph, concurrency, state, missing, results, pump: () => pump() })
    : undefined;
  const skip = (d: string, error?: string) => {
    state.set(d, "skipped");
    results[d] = { status: "skipped", cached: false, durationMs: 0, attempts: 0, outputs: {} };
    const rec = { runId, step: d, status: "skipped" as const, cached: false, attempts: 0 };
    const write = live.lost // another driver owns the run now: write nothing more
      ? Promise.resolve()
      : meta.upsertStepRun(error ? { ...rec, error } : rec).catch(() => {});
    emit({ type: "step_finished", runId, step: d, status: "skipped", durationMs: 0 });
    gate?.finished(d);
    return write;
  };
  const markSkipped = (name: string) => {
    for (const d of graph.downstream.get(name)!) {
      if (state.get(d) !== "waiting") continue;
      skip(d);
      markSkipped(d);
    }
  };

  const runOne = async (s: Step): Promise<void> => {
    const started = Date.now();
    const inputs: Record<string, ArtifactRef> = {};
    for (const i of s.inputs) inputs[i] = refs.get(i)!;
    const visible = visibleParams(s, params);
    const useCache = run.cache && pipeline.options.cache !== false && s.options.cache !== false;
    const key = cacheKey(withCodeIdentity(s, identities), inputs);
    const inputEdges: LineageEdge[] = Object.entries(inputs).map(([name, r]) => ({
      runId,
      step: s.name,
      direction: "input",
      name,
      hash: r.hash,
      uri: r.uri,
    }));

    const prev = previous.get(s.name);
    const hit = prev
      ? { outputs: prev.outputs!, runId }
      : useCache
      ? await lookupCache(stack, key, visible)
      : undefined;
    if (hit) {
      const rec: StepRunRecord = {
        runId,
        step: s.name,
        status: prev ? prev.status : "cached",
        cached: !prev || prev.cached,
        attempts: prev?.attempts ?? 0,
        startedAt: started,
        endedAt: Date.now(),
        durationMs: Date.now() - started,
        cacheKey: key,
        outputs: hit.outputs,
        worker: prev?.worker,
      };
      if (!prev) {
        // The run that computed these outputs logged metrics for them: show them on this run too.
        const earlier = await meta.listMetrics({ runId: hit.runId, step: s.name });
        await meta.recordStepCompletion({
          stepRun: rec,
          metrics: earlier.map((m) => ({ ...m, runId, at: rec.endedAt! })),
          lineage: [
            ...inputEdges,
            ...Object.entries(hit.outputs).map(([name, r]) => ({
              runId,
              step: s.name,
              direction: "output" as const,
              name,
              hash: r.hash,
              uri: r.uri,
            })),
          ],
        });
      }
      for (const [n, r] of Object.entries(hit.outputs)) setRef(n, r);
      results[s.name] = {
        status: rec.status,
        cached: rec.cached,
        durationMs: rec.durationMs!,
        attempts: rec.attempts,
        outputs: hit.outputs,
        worker: rec.worker,
      };
      emit({
        type: "step_finished",
        runId,
        step: s.name,
        status: rec.status,
        durationMs: rec.durationMs!,
      });
      return;
    }

    let attempts = 1 + Math.max(0, s.options.retries ?? pipeline.options.retries ?? 0);
    const timeoutMs = s.options.timeoutMs ?? pipeline.options.timeoutMs;
    const baseDelay = s.options.retryDelayMs ?? pipeline.options.retryDelayMs ?? 100;
    let lastErr: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      // "running" is recorded only for steps that last: short steps go straight to their
      // final record, which saves a transaction per step (the chain bench's main cost).
      let runningWrite: Promise<void> | undefined;
      const runningRecord = setTimeout(() => {
        runningWrite = meta.upsertStepRun({
          runId,
          step: s.name,
          status: "running",
          cached: false,
          attempts: attempt,
          startedAt: started,
          cacheKey: key,
        }).catch(() => {});
      }, attempt > 1 ? 0 : runningDelay);
      emit({ type: "step_started", runId, step: s.name, attempt });
      const ctl = new AbortController();
      const cancel = () => ctl.abort(live.signal.reason);
      live.signal.addEventListener("abort", cancel, { once: true });
      const attemptT0 = performance.now();
      try {
        live.signal.throwIfAborted();
        const task: StepTask = {
          runId,
          pipeline: pipeline.name,
          step: s.name,
          attempt,
          params: visible,
          inputs,
          timeoutMs,
          ...(pipeline.source ? { source: pipeline.source } : {}),
        };
        // A dispatcher that enforces timeouts itself (remote workers time the step from its
        // start) is not also timed here, where time waiting in a queue would count.
        const timed = options.dispatchEnforcesTimeout ? undefined : timeoutMs;
        const res = await raceAbort(options.dispatch(task, s, ctl.signal), ctl, {
          step: s.name,
          timeoutMs: timed,
        });
        // Synchronous code in this process blocks the timer: a late return is still a timeout.
        checkDeadline(s.name, timed, { t0: attemptT0, executor: executorType });
        live.signal.removeEventListener("abort", cancel);
        for (const message of res.logs ?? []) {
          emit({ type: "step_log", runId, step: s.name, message });
        }
        clearTimeout(runningRecord);
        await runningWrite; // never let a late "running" land after the final record
        const ended = Date.now();
        const outEdges: LineageEdge[] = [];
        const artifacts: ArtifactRecord[] = [];
        for (const [name, r] of Object.entries(res.outputs)) {
          setRef(name, r);
          outEdges.push({
            runId,
            step: s.name,
            direction: "output",
            name,
            hash: r.hash,
            uri: r.uri,
          });
          artifacts.push({ ...r, runId, step: s.name, name, createdAt: ended });
        }
        const read = res.readParams;
        await meta.recordStepCompletion({
          artifacts,
          lineage: [...inputEdges, ...outEdges],
          metrics: Object.entries(res.metrics ?? {}).map(([name, value]) => ({
            runId,
            step: s.name,
            name,
            value,
            at: ended,
          })),
          stepRun: {
            runId,
            step: s.name,
            status: "completed",
            cached: false,
            attempts: attempt,
            startedAt: started,
            endedAt: ended,
            durationMs: ended - started,
            cacheKey: key,
            outputs: res.outputs,
            worker: res.worker,
          },
          cacheEntry: useCache
            ? {
              key,
              readAllParams: read === "*",
              paramHashes: cacheParamHashes(visible, read),
              outputs: res.outputs,
              runId,
              step: s.name,
              createdAt: ended,
            }
            : undefined,
        });
        testCrashPoint("completion"); // test-only: a driver dying right after a completion
        results[s.name] = {
          status: "completed",
          cached: false,
          durationMs: ended - started,
          attempts: attempt,
          outputs: res.outputs,
          worker: res.worker,
        };
        emit({
          type: "step_finished",
          runId,
          step: s.name,
          status: "completed",
          durationMs: ended - started,
        });
        return;
      } catch (err) {
        live.signal.removeEventListener("abort", cancel);
        clearTimeout(runningRecord);
        await runningWrite;
        ctl.abort(err);
        lastErr = err;
        if (live.signal.aborted) return await recordCancelled(s.name, started, attempt, key);
        if (isUnretryable(err)) {
          attempts = attempt; // a missing permission or an unpinned module fails the same way again
          break;
        }
        if (attempt < attempts) {
          emit({ type: "step_retry", runId, step: s.name, attempt, error: describeError(err) });
          await new Promise((r) => setTimeout(r, baseDelay * 2 ** (attempt - 1)));
        }
      }
    }
    const ended = Date.now();
    const error = new StepFailedError(s.name, lastErr, attempts);
    await meta.upsertStepRun({
      runId,
      step: s.name,
      status: "failed",
      cached: false,
      attempts,
      startedAt: started,
      endedAt: ended,
      durationMs: ended - started,
      cacheKey: key,
      error: describeError(lastErr),
      errorStack: lastErr instanceof Error ? lastErr.stack : undefined,
    });
    results[s.name] = {
      status: "failed",
      cached: false,
      durationMs: ended - started,
      attempts,
      error: describeError(lastErr),
      outputs: {},
    };
    emit({
      type: "step_finished",
      runId,
      step: s.name,
      status: "failed",
      durationMs: ended - started,
    });
    throw error;
  };

  // A step interrupted by cancellation: recorded `cancelled`, and the run stops.
  const recordCancelled = async (
    step: string,
    started: number,
    attempt: number,
    key: string,
  ): Promise<never> => {
    interrupted.push(step);
    const ended = Date.now();
    const error = cancelMessage(live.signal.reason, [step]);
    if (!live.lost) {
      await meta.upsertStepRun({
        runId,
        step,
        status: "cancelled",
        cached: false,
        attempts: attempt,
        startedAt: started,
        endedAt: ended,
        durationMs: ended - started,
        cacheKey: key,
        error,
      });
    }
    results[step] = {
      status: "cancelled",
      cached: false,
      durationMs: ended - started,
      attempts: attempt,
      error,
      outputs: {},
    };
    emit({ type: "step_finished", runId, step, status: "cancelled", durationMs: ended - started });
    throw live.signal.reason;
  };

  live.signal.addEventListener("abort", () => pump(), { once: true });
  await new Promise<void>((resolveAll) => {
    pump = () => {
      // With an external scheduler, only submitted steps start, in submission order.
      const source = gate ? gate.queue : ready;
      const stop = live.signal.aborted; // cancelled: start nothing more
      let taken = 0;
      for (; !stop && taken < source.length && running < concurrency; taken++) {
        const s = source[taken];
        if (state.get(s.name) !== "waiting") continue;
        state.set(s.name, "running");
        running++;
        runOne(s).then(
          () => {
            state.set(s.name, "done");
            for (const d of graph.downstream.get(s.name)!) {
              const left = missing.get(d)! - 1;
              missing.set(d, left);
              if (left === 0) becomeReady(byName.get(d)!);
            }
          },
          (err) => {
            state.set(s.name, "failed");
            firstError ??= err instanceof Error ? err : new Error(String(err));
            markSkipped(s.name);
          },
        ).finally(() => {
          running--;
          for (const i of s.inputs) {
            const left = (consumers.get(i) ?? 1) - 1;
            consumers.set(i, left);
            const r = refs.get(i);
            if (left === 0 && r) values.delete(r.hash);
          }
          gate?.finished(s.name);
          pump();
        });
      }
      source.splice(0, stop ? source.length : taken);
      if (running === 0 && (stop || !gate || (gate.closed && !gate.queue.length))) resolveAll();
    };
    gate?.start(options.scheduler!);
    pump();
  });
  if (live.signal.aborted) {
    const waiting = [...state].filter(([, st]) => st === "waiting").map(([n]) => n);
    await Promise.all(waiting.map((n) => skip(n, "the run was cancelled before it started")));
  } else if (gate) {
    // Steps the scheduler never submitted are skipped; a scheduler failure fails the run.
    const left = gate.leftOut();
    const who = options.scheduler!.name;
    await Promise.all(left.map((n) => skip(n, `never submitted by the scheduler (${who})`)));
    if (gate.error !== undefined) {
      const why = gate.error instanceof Error ? gate.error.message : String(gate.error);
      firstError = new FlowymlError(`the scheduler (${who}) failed: ${why}`, {
        cause: gate.error,
      });
    } else if (left.length) {
      firstError ??= new FlowymlError(
        `the scheduler (${who}) returned without submitting ${left.length} step(s): ${
          left.join(", ")
        }; they were skipped`,
        { hint: "a scheduler must submit every step once its upstream steps completed" },
      );
    }
  }

  const cancelled = live.signal.aborted;
  const status = cancelled ? "cancelled" : firstError ? "failed" : "completed";
  if (cancelled) firstError = new FlowymlError(cancelMessage(live.signal.reason, interrupted));
  // The run's end is written only while this process still holds its lease.
  if (!live.lost) {
    await meta.updateRunLeased(runId, { status, endedAt: Date.now(), error: firstError?.message }, {
      lease: run.lease,
    });
  }
  await stack.executor.runFinished(runId);
  await notifyRunFinished(runId);
  emit({ type: "run_finished", runId, status });

  // Output values: those still in memory, plus final outputs loaded from the store.
  const outputs: Record<string, unknown> = {};
  await Promise.all([...refs].map(async ([name, r]) => {
    if (values.has(r.hash)) outputs[name] = values.get(r.hash);
    else if (wantOutputs && !consumed.has(name)) {
      outputs[name] = await (loading.get(name) ?? loadFinalOutput(stack, runId, name, r));
    }
  }));
  return {
    runId,
    status,
    outputs,
    steps: results,
    error: firstError,
    durationMs: performance.now() - t0,
  };
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
    () => loadValue(stack.artifactStore, ref, { label: `final output "${name}" of run ${runId}` }),
  );
}
