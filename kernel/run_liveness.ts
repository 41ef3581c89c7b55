/**
 * Run liveness: the process driving a run records its pid, host and a
 * heartbeat, so a run whose process vanished (`kill -9`, power loss) is shown
 * as `crashed` instead of `running` forever; and the runs this process drives
 * can be cancelled at once (SIGINT/SIGTERM handlers call
 * {@linkcode cancelActiveRuns}). See docs/runs.md.
 * @module
 */
import type { MetadataStore } from "./metadata_store.ts";
import type { RunRecord } from "./records.ts";
import { ConfigError } from "./errors.ts";

/** Default heartbeat interval of a driving process, in ms. */
export const DEFAULT_HEARTBEAT_MS = 5_000;
/** Default age after which a heartbeat counts as stale, in ms (12 missed beats). */
export const DEFAULT_STALE_MS = 60_000;

/** Why a run was cancelled, e.g. `SIGINT`. */
export class RunCancelled extends Error {
  /** `reason` names the cause, e.g. `SIGINT`, `SIGTERM`, `parent process exited`. */
  constructor(readonly reason: string) {
    super(`run cancelled (${reason})`);
    this.name = "RunCancelled";
  }
}

const active = new Map<string, AbortController>();

/**
 * Cancel every run this process drives: their running steps get `ctx.signal`
 * aborted, no further step starts, and each run is recorded `cancelled`.
 * Returns the ids of the runs cancelled.
 */
export function cancelActiveRuns(reason: string): string[] {
  const ids = [...active.keys()];
  for (const c of active.values()) if (!c.signal.aborted) c.abort(new RunCancelled(reason));
  return ids;
}

/**
 * Cancel one run this process drives, as {@linkcode cancelActiveRuns} does for all of them.
 * False when this process drives no run `runId`.
 */
export function cancelActiveRun(runId: string, reason: string): boolean {
  const c = active.get(runId);
  if (!c) return false;
  if (!c.signal.aborted) c.abort(new RunCancelled(reason));
  return true;
}

function envNumber(name: string): number | undefined {
  try {
    if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
      return undefined;
    }
    const v = Number(Deno.env.get(name));
    return Number.isFinite(v) && v > 0 ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Heartbeat interval: `FLOWYML_HEARTBEAT_MS` when readable, else 5 s. */
export function heartbeatIntervalMs(): number {
  return envNumber("FLOWYML_HEARTBEAT_MS") ?? DEFAULT_HEARTBEAT_MS;
}

/** Staleness threshold: `FLOWYML_RUN_STALE_MS` when readable, else 60 s. */
export function staleAfterMs(): number {
  return envNumber("FLOWYML_RUN_STALE_MS") ?? DEFAULT_STALE_MS;
}

/** This host's name, when this process may read it without a prompt. */
export function hostName(): string | undefined {
  try {
    if (Deno.permissions.querySync({ name: "sys", kind: "hostname" }).state !== "granted") {
      return undefined;
    }
    return Deno.hostname();
  } catch {
    return undefined;
  }
}

/** The run fields that say who drives it now: pid, host and a first heartbeat. */
export function driverFields(): Pick<RunRecord, "pid" | "host" | "heartbeatAt"> {
  const host = hostName();
  return { pid: Deno.pid, ...(host ? { host } : {}), heartbeatAt: Date.now() };
}

/** A run this process drives: its cancellation signal, and `stop()` when it ends. */
export interface RunLiveness {
  /** Aborted with a {@linkcode RunCancelled} when the run is cancelled. */
  readonly signal: AbortSignal;
  /** True once another process took the run's lease: this process must write nothing more. */
  readonly lost: boolean;
  /** Stop the heartbeat and forget the run. */
  stop(): void;
}

/** Reason of the cancellation of a run whose lease another process took. */
export const LEASE_LOST = "another process took over the run (runs resume --force)";

/**
 * Register `runId` as driven by this process and start its heartbeat. With
 * `lease`, each heartbeat renews the run's lease only while the run still
 * holds that token; when another process took it, the run is cancelled here
 * (reason {@linkcode LEASE_LOST}) and `lost` turns true.
 */
export function startRunLiveness(
  meta: MetadataStore,
  runId: string,
  options: { heartbeatMs?: number; lease?: string } = {},
): RunLiveness {
  const ctl = new AbortController();
  active.set(runId, ctl);
  let lost = false;
  const every = options.heartbeatMs ?? heartbeatIntervalMs();
  const beat = async () => {
    const patch = { heartbeatAt: Date.now() };
    if (options.lease === undefined) return await meta.updateRun(runId, patch);
    if (await meta.updateRunLeased(runId, patch, { lease: options.lease })) return;
    lost = true;
    if (!ctl.signal.aborted) ctl.abort(new RunCancelled(LEASE_LOST));
  };
  const timer = setInterval(() => beat().catch(() => {}), every);
  Deno.unrefTimer(timer);
  return {
    signal: ctl.signal,
    get lost() {
      return lost;
    },
    stop() {
      clearInterval(timer);
      active.delete(runId);
    },
  };
}

let crashAt: string | undefined;

/**
 * Test-only fault injection: when `FLOWYML_TEST_CRASH_AT` (readable) is
 * `<point>:<n>`, the n-th call with `point` kills this process with SIGKILL,
 * as a power loss would. Used by tests/queue/chaos_test.ts; never set it
 * otherwise.
 */
export function testCrashPoint(point: string): void {
  // Read once per process (it is set when the process starts): this runs at every completion.
  const want = crashAt === undefined ? (crashAt = envText("FLOWYML_TEST_CRASH_AT") ?? "") : crashAt;
  if (!want?.startsWith(`${point}:`)) return;
  const n = (crashCounts.get(point) ?? 0) + 1;
  crashCounts.set(point, n);
  if (String(n) !== want.slice(point.length + 1)) return;
  try {
    Deno.kill(Deno.pid, "SIGKILL");
  } catch {
    Deno.exit(137); // no --allow-run: exit at once, without cleanup, all the same
  }
}

const crashCounts = new Map<string, number>();

function envText(name: string): string | undefined {
  try {
    if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
      return undefined;
    }
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** Whether process `pid` on this host is alive: `undefined` when it cannot be told. */
function pidAlive(pid: number): boolean | undefined {
  try {
    if (Deno.permissions.querySync({ name: "read", path: "/proc" }).state !== "granted") {
      return undefined;
    }
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Field 3 is the state; a zombie (Z) or dead (X) process no longer runs.
    const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
    return state !== "Z" && state !== "X";
  } catch (err) {
    return err instanceof Deno.errors.NotFound ? false : undefined;
  }
}

/** Options of {@linkcode runLiveness}. */
export interface LivenessOptions {
  /** Now, ms since the epoch (default `Date.now()`). */
  now?: number;
  /** Heartbeat age that counts as stale (default {@linkcode staleAfterMs}). */
  staleMs?: number;
  /** This host's name (default {@linkcode hostName}). */
  host?: string;
}

/**
 * Is the process driving an unfinished run alive? On this host with a known
 * pid, the pid decides (a live process whose event loop is busy in a long
 * synchronous step is not crashed). Elsewhere, a heartbeat older than the
 * threshold means crashed. Finished runs are `finished`.
 */
export function runLiveness(
  run: RunRecord,
  options: LivenessOptions = {},
): "finished" | "alive" | "crashed" {
  if (run.status !== "running" && run.status !== "pending") return "finished";
  const host = "host" in options ? options.host : hostName();
  if (run.pid && run.host && host && run.host === host) {
    const alive = pidAlive(run.pid);
    if (alive !== undefined) return alive ? "alive" : "crashed";
  }
  const last = run.heartbeatAt ?? run.startedAt;
  const now = options.now ?? Date.now();
  return now - last > (options.staleMs ?? staleAfterMs()) ? "crashed" : "alive";
}

/** The run as readers should show it: `crashed` when its driving process is gone. */
export function withLiveStatus(run: RunRecord, options: LivenessOptions = {}): RunRecord {
  if (runLiveness(run, options) !== "crashed") return run;
  const who = run.pid ? `pid ${run.pid}${run.host ? ` on ${run.host}` : ""}` : "its process";
  const last = new Date(run.heartbeatAt ?? run.startedAt).toISOString();
  return {
    ...run,
    status: "crashed",
    error: run.error ??
      `the process driving this run (${who}) stopped without recording an end; last heartbeat ` +
        `${last}. Continue it with \`flowyml runs resume ${run.runId}\``,
  };
}

/**
 * Refuse to take over a run whose driving process is still alive (`runs
 * resume` of a live run would run its steps twice). Crashed, failed and
 * cancelled runs pass.
 */
export function assertNotLive(run: RunRecord, options: LivenessOptions = {}): void {
  if (runLiveness(run, options) !== "alive") return;
  const who = run.pid ? `pid ${run.pid}${run.host ? ` on ${run.host}` : ""}` : "another process";
  const beat = run.heartbeatAt ?? run.startedAt;
  throw new ConfigError(
    `run "${run.runId}" is still running (${who}, last heartbeat ${
      Math.round(((options.now ?? Date.now()) - beat) / 1000)
    } s ago)`,
    {
      hint: `wait for it, or stop it first (e.g. kill -INT ${run.pid ?? "<pid>"}); a run whose ` +
        `process died shows as crashed and can be resumed`,
    },
  );
}
