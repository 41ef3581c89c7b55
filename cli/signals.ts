/**
 * How `flowyml run` stops: SIGINT and SIGTERM cancel the runs this process
 * drives (running steps get `ctx.signal` aborted, the run is recorded
 * `cancelled`), and the process exits 130 / 143 with one line. The child
 * pipeline process of `flowyml run` also cancels when its parent vanishes
 * (`kill -9`): it is re-parented, which it notices within a second.
 * @module
 */
import { cancelActiveRuns } from "../kernel/run_liveness.ts";

/** Exit code of a process stopped by a signal: 128 + its number. */
export const SIGNAL_EXIT: Readonly<Record<"SIGINT" | "SIGTERM", number>> = {
  SIGINT: 130,
  SIGTERM: 143,
};

/**
 * After a child this process forwarded a stop signal to has ended (`sig` set): exit now with the
 * child's code, else the signal's conventional one, as if this process had been stopped.
 */
export function exitIfStopped(end: { code: number; sig?: string }): void {
  if (end.sig) Deno.exit(end.code || SIGNAL_EXIT[end.sig as keyof typeof SIGNAL_EXIT]);
}

/** What stopped the run, once something did. */
export interface StopWatch {
  /** The signal (or `parent process exited`) that cancelled the run, if any. */
  readonly reason?: string;
  /** Exit code to use: 130 for SIGINT, 143 for SIGTERM, 1 when the parent vanished. */
  readonly exitCode: number;
  /** Remove the handlers. */
  dispose(): void;
}

/**
 * Cancel this process's runs on SIGINT/SIGTERM (and, with `watchParent`,
 * when the parent process exits). A signal arriving before any run started
 * exits at once with its code and `beforeRun` printed.
 */
export function watchStopSignals(
  options: { watchParent?: boolean; beforeRun?: string } = {},
): StopWatch {
  const state: { reason?: string; exitCode: number } = { exitCode: 0 };
  const stop = (reason: string, code: number) => {
    if (state.reason) return; // already cancelling; a terminal's Ctrl-C may arrive twice
    state.reason = reason;
    state.exitCode = code;
    if (!cancelActiveRuns(reason).length) {
      console.error(`flowyml: ${reason}: ${options.beforeRun ?? "stopped before the run started"}`);
      Deno.exit(code);
    }
  };
  const handlers = (["SIGINT", "SIGTERM"] as const).map((sig) => {
    const h = () => stop(sig, SIGNAL_EXIT[sig]);
    Deno.addSignalListener(sig, h);
    return [sig, h] as const;
  });
  let timer: ReturnType<typeof setInterval> | undefined;
  if (options.watchParent) {
    const parent = Deno.ppid;
    timer = setInterval(() => {
      if (Deno.ppid !== parent) stop("parent process exited", 1);
    }, 1000);
    Deno.unrefTimer(timer);
  }
  return {
    get reason() {
      return state.reason;
    },
    get exitCode() {
      return state.exitCode;
    },
    dispose() {
      for (const [sig, h] of handlers) Deno.removeSignalListener(sig, h);
      clearInterval(timer);
    },
  };
}

/**
 * Forward SIGINT/SIGTERM to a child process (which cancels its run and exits
 * 130/143); returns a function removing the handlers and telling which
 * signal, if any, was forwarded.
 */
export function forwardStopSignals(child: Deno.ChildProcess): () => string | undefined {
  let forwarded: string | undefined;
  const handlers = (["SIGINT", "SIGTERM"] as const).map((sig) => {
    const h = () => {
      forwarded ??= sig;
      try {
        child.kill(sig);
      } catch { /* already gone */ }
    };
    Deno.addSignalListener(sig, h);
    return [sig, h] as const;
  });
  return () => {
    for (const [sig, h] of handlers) Deno.removeSignalListener(sig, h);
    return forwarded;
  };
}
