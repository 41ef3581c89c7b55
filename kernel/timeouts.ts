/**
 * Step timeouts that hold: an attempt is raced against its deadline (and the
 * run's cancellation), and an attempt that returns after its deadline is a
 * failure even when nothing could interrupt it (synchronous code in this
 * process blocks the timer), so it is never recorded completed or cached.
 * @module
 */
import { StepTimeoutError } from "./errors.ts";

/**
 * Settle with `p`, or reject as soon as `ctl` is aborted: by the deadline
 * (`timeoutMs`, which aborts `ctl` with a {@linkcode StepTimeoutError}) or by
 * whoever else aborts it (run cancellation).
 */
export function raceAbort<T>(
  p: Promise<T>,
  ctl: AbortController,
  options: { step: string; timeoutMs?: number },
): Promise<T> {
  const { step, timeoutMs } = options;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(ctl.signal.reason);
    if (ctl.signal.aborted) onAbort();
    else ctl.signal.addEventListener("abort", onAbort, { once: true });
  });
  if (timeoutMs) {
    timer = setTimeout(() => ctl.abort(new StepTimeoutError(step, timeoutMs)), timeoutMs);
  }
  return Promise.race([p, aborted]).finally(() => {
    clearTimeout(timer);
    ctl.signal.removeEventListener("abort", onAbort);
  });
}

/**
 * The error for an attempt that took `tookMs`, past its `timeoutMs`, yet
 * returned: its executor could not stop it in time. `executor` names it.
 */
export function lateTimeoutError(
  step: string,
  timeoutMs: number,
  options: { tookMs: number; executor?: string },
): StepTimeoutError {
  const inProcess = !options.executor || options.executor === "local";
  return new StepTimeoutError(step, timeoutMs, {
    detail: ` (it returned after ${Math.round(options.tookMs)} ms; its result is discarded)` +
      (inProcess
        ? `: the ${
          options.executor ?? "in-process"
        } executor runs steps in this process and cannot pre-empt synchronous code`
        : ""),
    hint: inProcess
      ? "run the stack with `executor: { type: worker }`, which stops a step at its timeout, " +
        "or raise timeoutMs"
      : "raise the step's timeoutMs, or make it finish sooner",
  });
}

/** Throw {@linkcode lateTimeoutError} when an attempt started at `t0` ran past `timeoutMs`. */
export function checkDeadline(
  step: string,
  timeoutMs: number | undefined,
  options: { t0: number; executor?: string },
): void {
  if (!timeoutMs) return;
  const tookMs = performance.now() - options.t0;
  if (tookMs > timeoutMs) {
    throw lateTimeoutError(step, timeoutMs, { tookMs, executor: options.executor });
  }
}
