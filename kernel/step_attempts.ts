/**
 * One step of a run, from start to final record: reuse (a resumed run's
 * completed step, or a cache hit), else the attempt loop (dispatch, timeout,
 * retries with backoff, cancellation), then the completion recorder
 * (kernel/step_records.ts).
 * @module
 */
import { describeError } from "./errors.ts";
import { isUnretryable } from "./permissions.ts";
import type { Step } from "./step.ts";
import { type StepTask, type StepTaskResult, visibleParams } from "./step_runner.ts";
import { cacheKey, lookupCache } from "./cache.ts";
import { verifiedOutputs } from "./_stored_outputs.ts";
import { withCodeIdentity } from "./code_identity.ts";
import { checkDeadline, raceAbort } from "./timeouts.ts";
import {
  recordCancelled,
  recordCompleted,
  recordFailed,
  recordReused,
  type StepEnv,
  type StepPlan,
} from "./step_records.ts";

/**
 * Run step `s` of the run in `env` to its final record. Resolves when it
 * completed (or was reused); rejects when it failed or was cancelled.
 */
export async function runStep(env: StepEnv, s: Step): Promise<void> {
  const plan = planStep(env, s);
  if (await reuse(env, plan)) return;
  await attemptLoop(env, plan);
}

function planStep(env: StepEnv, s: Step): StepPlan {
  const inputs = env.run.inputsOf(s);
  return {
    step: s,
    started: Date.now(),
    inputs,
    visible: visibleParams(s, env.params),
    useCache: env.cache && env.pipeline.options.cache !== false && s.options.cache !== false,
    key: cacheKey(withCodeIdentity(s, env.identities), inputs),
  };
}

/**
 * Reuse a resumed run's completed step or a cache hit; false when the step must run. A resumed
 * run's step is reused only under the key it would have today (its code and its inputs are
 * unchanged since it ran: an edit between the crash and `runs resume` runs it again) and when its
 * recorded outputs still verify, as a cache hit's must.
 */
async function reuse(env: StepEnv, plan: StepPlan): Promise<boolean> {
  const earlier = env.previous.get(plan.step.name);
  const kept = earlier?.cacheKey === plan.key
    ? await verifiedOutputs(
      env.run.stack,
      { step: plan.step.name, outputs: earlier.outputs! },
      { inline: true, what: "output of the resumed run" },
    )
    : undefined;
  const runId = env.run.runId;
  const hit = kept
    ? { outputs: kept, runId, prev: earlier }
    : plan.useCache
    ? await lookupCache(env.run.stack, plan.key, { params: plan.visible, inline: env.inline })
    : undefined;
  if (!hit) return false;
  await recordReused(env, plan, hit);
  return true;
}

/** Attempts until one completes, retrying with exponential backoff; records the outcome. */
async function attemptLoop(env: StepEnv, plan: StepPlan): Promise<void> {
  const s = plan.step;
  const o = env.pipeline.options;
  let attempts = 1 + Math.max(0, s.options.retries ?? o.retries ?? 0);
  const baseDelay = s.options.retryDelayMs ?? o.retryDelayMs ?? 100;
  let lastErr: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      const result = await tryAttempt(env, plan, attempt);
      return await recordCompleted(env, plan, { attempt, result });
    } catch (err) {
      lastErr = err;
      if (env.live.signal.aborted) return await recordCancelled(env, plan, attempt);
      if (isUnretryable(err)) {
        attempts = attempt; // a missing permission or an unpinned module fails the same way again
        break;
      }
      if (attempt < attempts) {
        const error = describeError(err);
        env.run.emit({ type: "step_retry", runId: env.run.runId, step: s.name, attempt, error });
        await new Promise((r) => setTimeout(r, baseDelay * 2 ** (attempt - 1)));
      }
    }
  }
  await recordFailed(env, plan, { attempts, error: lastErr });
}

/**
 * The "running" record of an attempt, written only when the attempt lasts:
 * short steps go straight to their final record, which saves a transaction
 * per step (the chain bench's main cost).
 */
class RunningRecord {
  #timer: ReturnType<typeof setTimeout>;
  #write?: Promise<void>;

  constructor(env: StepEnv, plan: StepPlan, attempt: number) {
    const { run } = env;
    this.#timer = setTimeout(() => {
      // In a promise: a store that throws at once (SQLite locked past its busy timeout) must not
      // throw out of this timer and kill the run's process.
      this.#write = Promise.resolve().then(() =>
        run.stack.metadataStore.upsertStepRun({
          runId: run.runId,
          step: plan.step.name,
          status: "running",
          cached: false,
          attempts: attempt,
          startedAt: plan.started,
          cacheKey: plan.key,
        })
      ).catch(() => {});
    }, attempt > 1 ? 0 : env.runningDelayMs);
  }

  /** Cancel it, and wait for one already sent: never let a late "running" land after the end. */
  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    await this.#write;
  }
}

/** Attempts in flight by run signal: one listener per run (not per attempt) aborts them all. */
const inFlight = new WeakMap<AbortSignal, Set<AbortController>>();

/**
 * Abort `ctl` when the run's `signal` aborts, until the returned function is called. One
 * listener per run: with hundreds of attempts in flight (a queue run), a listener each made
 * every add and remove scan all the others.
 */
function track(signal: AbortSignal, ctl: AbortController): () => void {
  const set = inFlight.get(signal) ?? watch(signal);
  set.add(ctl);
  return () => void set.delete(ctl);
}

/** The set of `signal`'s attempts, with the one listener that aborts them all. */
function watch(signal: AbortSignal): Set<AbortController> {
  const all = new Set<AbortController>();
  inFlight.set(signal, all);
  signal.addEventListener("abort", () => {
    for (const c of all) c.abort(signal.reason);
  }, { once: true });
  return all;
}

/** One attempt: dispatch, raced against its timeout and the run's cancellation. */
async function tryAttempt(
  env: StepEnv,
  plan: StepPlan,
  attempt: number,
): Promise<StepTaskResult> {
  const { run, live } = env;
  const s = plan.step;
  const timeoutMs = s.options.timeoutMs ?? env.pipeline.options.timeoutMs;
  const running = new RunningRecord(env, plan, attempt);
  run.emit({ type: "step_started", runId: run.runId, step: s.name, attempt });
  const ctl = new AbortController();
  const untrack = track(live.signal, ctl);
  const t0 = performance.now();
  try {
    live.signal.throwIfAborted();
    const task: StepTask = {
      runId: run.runId,
      pipeline: env.pipeline.name,
      step: s.name,
      attempt,
      params: plan.visible,
      inputs: plan.inputs,
      timeoutMs,
      ...(env.pipeline.source ? { source: env.pipeline.source } : {}),
    };
    // A dispatcher that enforces timeouts itself (remote workers time the step from its
    // start) is not also timed here, where time waiting in a queue would count.
    const timed = env.dispatchEnforcesTimeout ? undefined : timeoutMs;
    const res = await raceAbort(env.dispatch(task, s, ctl.signal), ctl, {
      step: s.name,
      timeoutMs: timed,
    });
    // Synchronous code in this process blocks the timer: a late return is still a timeout.
    checkDeadline(s.name, timed, { t0, executor: env.executorType });
    untrack();
    for (const message of res.logs ?? []) {
      run.emit({ type: "step_log", runId: run.runId, step: s.name, message });
    }
    await running.stop();
    return res;
  } catch (err) {
    untrack();
    await running.stop();
    ctl.abort(err);
    throw err;
  }
}
