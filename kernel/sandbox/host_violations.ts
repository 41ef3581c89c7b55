/**
 * Why a plugin call failed, as the kernel reports it: the
 * {@linkcode PluginViolationError} of a call whose host process answered with
 * an ERROR frame, or of a call (or load) whose process is gone (killed at its
 * deadline or on cancel, by the OS or the watchdog over its memory limit, at
 * its V8 heap cap, or crashed). Used by {@linkcode PluginHost} (host.ts).
 * @module
 */
import { PluginViolationError, type ViolationKind } from "./errors.ts";
import type { PluginProcess } from "./plugin_process.ts";

const MiB = 1024 ** 2;

/** The plugin host whose call failed, as its messages name it. */
export interface FailedHost {
  /** Plugin name as configured under `plugins:`. */
  readonly name: string;
  /** Its grants: the memory grant in bytes. */
  readonly grants: { readonly memory: number };
}

/** What the failure of a call depends on of its options (`CallOptions` in host.ts). */
export interface CallOptionsLike {
  /** Time limit of the call in ms. */
  timeoutMs: number;
  /** Cancels the call. */
  signal?: AbortSignal;
  /** The denied request behind a failure, if any. */
  lastDenial?: () => string | undefined;
}

/** `n` bytes as `16 MiB` / `1.5 MiB` / `300 bytes`. */
export function formatBytes(n: number): string {
  if (n >= MiB) return `${+(n / MiB).toFixed(1)} MiB`;
  if (n >= 1024) return `${+(n / 1024).toFixed(1)} KiB`;
  return `${n} bytes`;
}

/** The error of a call of `host`'s plugin that its process answered with an ERROR frame. */
export function violationOf(
  host: FailedHost,
  reply: { kind: string; message: string },
  o: CallOptionsLike,
): Error {
  if (reply.kind === "cancelled") {
    return o.signal?.reason ?? new PluginViolationError(host.name, "timeout", "cancelled");
  }
  const denial = o.lastDenial?.();
  if (denial && ["plugin_error", "abort", "trap", "crashed"].includes(reply.kind)) {
    return new PluginViolationError(host.name, "denied", `${denial} (then: ${reply.message})`);
  }
  const kind: ViolationKind = reply.kind === "abort"
    ? "trap"
    : (["timeout", "memory", "trap", "oversized", "malformed", "denied", "plugin_error"]
        .includes(reply.kind)
      ? reply.kind
      : "crashed") as ViolationKind;
  const detail = kind === "timeout"
    ? `exceeded its timeout of ${o.timeoutMs} ms (interrupted: ${reply.message})`
    : kind === "memory"
    ? `exceeded its memory grant of ${formatBytes(host.grants.memory)}: ${reply.message}`
    : reply.message;
  return new PluginViolationError(host.name, kind, detail);
}

/** Why `host`'s process is gone, as the error of the call (or load) it was serving. */
export async function deathOf(
  host: FailedHost,
  proc: PluginProcess,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<Error> {
  proc.kill("protocol"); // no-op when it is already gone; else it broke the channel
  const status = await proc.exited;
  const why = proc.killedFor;
  if (why === "cancelled" && signal?.aborted) return signal.reason;
  if (why === "timeout") {
    return new PluginViolationError(
      host.name,
      "timeout",
      `exceeded its timeout of ${timeoutMs} ms (its process was killed)`,
    );
  }
  const tail = await proc.stderrTail();
  const heap = /out of memory|heap limit|allocation failed/i.test(tail);
  if (why === "memory" || proc.memoryKilled || heap) {
    const by = proc.confinement.enforcement === "watchdog"
      ? `the watchdog killed its process over ${formatBytes(proc.confinement.limit)} RSS`
      : heap
      ? `its process reached its V8 heap cap of ${proc.heapMiB} MiB`
      : `the OS killed its process at its cgroup limit of ${formatBytes(proc.confinement.limit)}` +
        (proc.confinement.mode === "supervised" ? " (set by the limits supervisor)" : "");
    return new PluginViolationError(
      host.name,
      "memory",
      `exceeded its memory grant of ${formatBytes(host.grants.memory)} (${by})`,
    );
  }
  const last = tail.trim().split("\n").slice(-3).join(" | ").slice(0, 500);
  return new PluginViolationError(
    host.name,
    "crashed",
    `its host process ${why ? `was killed (${why})` : "exited"} with ${
      status.signal ?? `code ${status.code}`
    }${last ? `: ${last}` : ""}`,
  );
}
