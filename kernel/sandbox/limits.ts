/**
 * OS-enforced limits of a plugin process (or of the instrumenter process).
 *
 * In order of preference:
 * - **cgroup v1** (this machine kind: `/sys/fs/cgroup/memory` and `/pids`
 *   writable by root): one `flowyml/<id>` group per process in the memory
 *   and pids hierarchies, `memory.limit_in_bytes` and `pids.max`; the
 *   kernel's OOM killer ends a process that passes its limit.
 * - **cgroup v2** (`/sys/fs/cgroup/cgroup.controllers` listing `memory`):
 *   `memory.max`, `memory.swap.max = 0`, `pids.max`.
 * - **supervised** (the least-privilege child of `flowyml run` /
 *   `flowyml worker`: Deno refuses it `/sys` and `/proc/<pid>` without
 *   `--allow-all`): the trusted parent's limits supervisor
 *   (limits_client.ts, cli/limits_supervisor.ts) does one of the above for
 *   it, on request over a Unix socket.
 * - **watchdog** (no writable cgroups: a non-root user, a container): the
 *   kernel samples `/proc/<pid>/status` `VmRSS` every
 *   {@linkcode WATCH_EVERY_MS} ms and SIGKILLs a process over its limit.
 *   Said once on stderr.
 * - **in-process** (none of the above: `/proc` not readable either): nothing
 *   outside the plugin process bounds its memory; flowyml's own RSS check in
 *   the plugin process (host_process.ts, always on in every mode), the V8
 *   heap cap and the linear-memory cap do. Said once on stderr.
 *
 * The pid is put in its groups right after spawn, before the process is sent
 * any untrusted bytes; the groups are removed when the process is gone.
 * @module
 */
import { supervisorAddress, SupervisorClient } from "./limits_client.ts";

/** How limits are enforced on this machine. */
export type LimitMode = "cgroup-v1" | "cgroup-v2" | "supervised" | "watchdog" | "in-process";

/** Sampling period of the watchdog fallback. */
export const WATCH_EVERY_MS = 20;
/**
 * Threads + processes one plugin process may have: Deno starts ~35 on a
 * 2-core VM (its thread pools grow with the cores), so 48 plus 8 per core.
 */
export const PIDS_MAX = 48 + 8 * (navigator.hardwareConcurrency || 2);

const V1_MEM = "/sys/fs/cgroup/memory/flowyml";
const V1_PIDS = "/sys/fs/cgroup/pids/flowyml";
const V2 = "/sys/fs/cgroup/flowyml";

let mode: LimitMode | undefined;
let forced: LimitMode | undefined;
let seq = 0;
let client: SupervisorClient | undefined;
let warnedFallback = false;

/** Force a mode (tests prove the watchdog path contains attacks too); `undefined` = detect. */
export function forceLimitMode(m: LimitMode | undefined): void {
  forced = m;
}

function tryMkdir(path: string): boolean {
  try {
    Deno.mkdirSync(path, { recursive: true });
    return true;
  } catch {
    return false;
  }
}

function write(path: string, value: string | number): void {
  Deno.writeTextFileSync(path, String(value));
}

/** Remove empty groups left by kernels that died (older than a minute, so never a live one). */
function sweep(dir: string): void {
  try {
    for (const e of Deno.readDirSync(dir)) {
      if (!e.isDirectory) continue;
      try {
        const st = Deno.statSync(`${dir}/${e.name}`);
        if (Date.now() - (st.mtime?.getTime() ?? Date.now()) > 60_000) {
          Deno.removeSync(`${dir}/${e.name}`);
        }
      } catch {
        // populated or gone
      }
    }
  } catch {
    // not readable
  }
}

function v2Usable(): boolean {
  try {
    const ctl = Deno.readTextFileSync("/sys/fs/cgroup/cgroup.controllers");
    if (!/\bmemory\b/.test(ctl)) return false;
    write("/sys/fs/cgroup/cgroup.subtree_control", "+memory +pids");
    if (!tryMkdir(V2)) return false;
    write(`${V2}/cgroup.subtree_control`, "+memory +pids");
    return true;
  } catch {
    return false;
  }
}

/** The mode in use (detected once; says so on stderr when it falls back to the watchdog). */
export function limitMode(): LimitMode {
  if (forced) return forced;
  if (mode) return mode;
  if (tryMkdir(V1_MEM) && tryMkdir(V1_PIDS)) {
    mode = "cgroup-v1";
    sweep(V1_MEM);
    sweep(V1_PIDS);
  } else if (v2Usable()) {
    mode = "cgroup-v2";
    sweep(V2);
  } else if (supervisorAddress()) {
    mode = "supervised";
  } else if (processRss(Deno.pid) !== undefined) {
    mode = "watchdog";
    console.error(
      "flowyml: cgroups are not writable here, so plugin memory is bounded by a watchdog that " +
        `samples /proc/<pid>/status every ${WATCH_EVERY_MS} ms (run as root with cgroups for the ` +
        "OS-enforced limit; see docs/sandbox.md)",
    );
  } else {
    mode = "in-process";
    console.error(
      "flowyml: this process can neither write cgroups nor read /proc (Deno grants /sys and " +
        "/proc/<pid> only with --allow-all), and no limits supervisor was passed to it: plugin " +
        "memory is bounded only by flowyml's check inside each plugin process, the V8 heap cap " +
        "and the linear-memory cap (run through `flowyml run`, whose parent enforces OS limits; " +
        "see docs/sandbox.md)",
    );
  }
  return mode;
}

/**
 * What the kernel needs (for `pluginPermissions()`) to enforce limits in the
 * mode it is in: in a supervised child, the supervisor's socket (read,
 * write, `net=unix:<path>`) and the two env variables naming it; otherwise
 * nothing. Deno grants `/sys` and `/proc/<pid>` only with `--allow-all`, so
 * no least-privilege flag set can make the cgroup or watchdog modes work:
 * `flowyml run` starts a supervisor and grants its socket instead
 * (cli/limits_supervisor.ts).
 */
export function limitPaths(): { read: string[]; write: string[]; net: string[]; env: string[] } {
  const addr = limitMode() === "supervised" ? supervisorAddress() : undefined;
  if (!addr) return { read: [], write: [], net: [], env: [] };
  return {
    read: [addr.path],
    write: [addr.path],
    net: [`unix:${addr.path}`],
    env: ["FLOWYML_LIMITS_SOCKET", "FLOWYML_LIMITS_TOKEN"],
  };
}

/** Say once that the supervisor failed and what bounds plugin memory instead. */
function warnFallback(pid: number, err: unknown): void {
  if (warnedFallback) return;
  warnedFallback = true;
  console.error(
    `flowyml: the limits supervisor could not confine plugin process ${pid} ` +
      `(${(err as Error)?.message ?? err}); plugin memory is bounded only by flowyml's check ` +
      "inside each plugin process, the V8 heap cap and the linear-memory cap",
  );
}

/** Resident set size of process `pid` in bytes, or undefined when it is gone. */
export function processRss(pid: number): number | undefined {
  try {
    const s = Deno.readTextFileSync(`/proc/${pid}/status`);
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(s);
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * State letter and parent pid of process `pid` from `/proc/<pid>/stat`, or
 * undefined when it is gone (or `/proc` is not readable).
 */
export function processStat(pid: number): { ppid: number; state: string } | undefined {
  try {
    const s = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return { state: f[0], ppid: Number(f[1]) };
  } catch {
    return undefined;
  }
}

/** The limits on one process. */
export class Confinement {
  /** How they are enforced (`supervised`: by the parent's supervisor, see {@linkcode enforcement}). */
  readonly mode: LimitMode;
  /** Set when the watchdog killed the process for its memory. */
  watchdogKilled = false;
  #pid: number;
  #limit: number;
  #dirs: string[] = [];
  #timer?: ReturnType<typeof setInterval>;
  #onBreach: () => void;
  /** Supervised: the supervisor's group id and how it enforces the limit. */
  #group?: string;
  #by?: string;

  private constructor(pid: number, limit: number, onBreach: () => void, mode: LimitMode) {
    this.#pid = pid;
    this.#limit = limit;
    this.#onBreach = onBreach;
    this.mode = mode;
  }

  /**
   * Put process `pid` under a memory limit of `bytes` (and {@linkcode PIDS_MAX})
   * in this process's own mode; `onBreach` kills it (the watchdog's breach;
   * the cgroup's OOM killer needs no help). A supervised kernel uses
   * {@linkcode Confinement.confine}; here that mode confines nothing.
   */
  static attach(pid: number, bytes: number, onBreach: () => void): Confinement {
    const mode = limitMode();
    const c = new Confinement(pid, bytes, onBreach, mode === "supervised" ? "in-process" : mode);
    try {
      if (mode === "cgroup-v1") c.#attachV1();
      else if (mode === "cgroup-v2") c.#attachV2();
    } catch (err) {
      c.release();
      throw new Error(`could not put plugin process ${pid} in its cgroup: ${err}`);
    }
    if (mode === "watchdog") c.#watch();
    return c;
  }

  /**
   * {@linkcode Confinement.attach}, or in a supervised kernel: ask the
   * parent's supervisor to put `pid` in its groups and wait for its answer.
   * If it fails, the process runs with flowyml's in-process check only
   * (said once on stderr).
   */
  static async confine(pid: number, bytes: number, onBreach: () => void): Promise<Confinement> {
    if (limitMode() !== "supervised") return Confinement.attach(pid, bytes, onBreach);
    const addr = supervisorAddress();
    client ??= addr ? new SupervisorClient(addr) : undefined;
    try {
      if (!client) throw new Error("its address is not readable");
      const r = await client.request({ op: "attach", pid, memoryBytes: bytes, pidsMax: PIDS_MAX });
      const c = new Confinement(pid, bytes, onBreach, "supervised");
      c.#group = r.group;
      c.#by = r.mode;
      return c;
    } catch (err) {
      warnFallback(pid, err);
      return new Confinement(pid, bytes, onBreach, "in-process");
    }
  }

  #attachV1(): void {
    const id = `${Deno.pid}-${++seq}`;
    const mem = `${V1_MEM}/${id}`;
    const pids = `${V1_PIDS}/${id}`;
    Deno.mkdirSync(mem);
    this.#dirs.push(mem);
    Deno.mkdirSync(pids);
    this.#dirs.push(pids);
    write(`${mem}/memory.limit_in_bytes`, this.#limit);
    try {
      // Charges the process made before it moved here move with it (gone from newer kernels:
      // the process moves a few ms after spawn, before the runtime has loaded, so little stays).
      write(`${mem}/memory.move_charge_at_immigrate`, 1);
    } catch {
      // not supported
    }
    write(`${pids}/pids.max`, PIDS_MAX);
    write(`${mem}/cgroup.procs`, this.#pid);
    write(`${pids}/cgroup.procs`, this.#pid);
  }

  #attachV2(): void {
    const dir = `${V2}/${Deno.pid}-${++seq}`;
    Deno.mkdirSync(dir);
    this.#dirs.push(dir);
    write(`${dir}/memory.max`, this.#limit);
    try {
      write(`${dir}/memory.swap.max`, 0);
    } catch {
      // no swap accounting
    }
    write(`${dir}/pids.max`, PIDS_MAX);
    write(`${dir}/cgroup.procs`, this.#pid);
  }

  #watch(): void {
    const timer = this.#timer = setInterval(() => {
      const rss = processRss(this.#pid);
      if (rss === undefined) return this.#stopWatch();
      if (rss > this.#limit) {
        this.watchdogKilled = true;
        this.#stopWatch();
        this.#onBreach();
      }
    }, WATCH_EVERY_MS);
    Deno.unrefTimer(timer);
  }

  #stopWatch(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** The memory limit in bytes. */
  get limit(): number {
    return this.#limit;
  }

  /**
   * What really enforces the limit: `cgroup-v1`, `cgroup-v2`, `watchdog`
   * (here or in the supervisor), or `in-process` (only flowyml's check in
   * the plugin process).
   */
  get enforcement(): string {
    return this.mode === "supervised" ? this.#by ?? "supervised" : this.mode;
  }

  /** Change the memory limit (before the process gets its module); throws when it cannot. */
  async setLimit(bytes: number): Promise<void> {
    if (this.mode === "supervised" && this.#group) {
      await client!.request({ op: "limit", group: this.#group, memoryBytes: bytes });
    } else if (this.mode === "cgroup-v1") write(`${this.#dirs[0]}/memory.limit_in_bytes`, bytes);
    else if (this.mode === "cgroup-v2") write(`${this.#dirs[0]}/memory.max`, bytes);
    this.#limit = bytes;
  }

  /** Whether the OS (OOM killer in the group) or the watchdog stopped the process for memory. */
  memoryKilled(): boolean {
    if (this.watchdogKilled) return true;
    try {
      if (this.mode === "cgroup-v1") {
        const oom = Deno.readTextFileSync(`${this.#dirs[0]}/memory.oom_control`);
        const kills = Number(/oom_kill (\d+)/.exec(oom)?.[1] ?? 0);
        const fail = Number(Deno.readTextFileSync(`${this.#dirs[0]}/memory.failcnt`));
        return kills > 0 || fail > 0;
      }
      if (this.mode === "cgroup-v2") {
        const ev = Deno.readTextFileSync(`${this.#dirs[0]}/memory.events`);
        return Number(/oom_kill (\d+)/.exec(ev)?.[1] ?? 0) > 0;
      }
    } catch {
      // group already gone
    }
    return false;
  }

  /**
   * Once the process has exited: whether it was stopped for its memory, and
   * its groups removed (in a supervised kernel, by the supervisor).
   */
  async finish(): Promise<boolean> {
    if (this.mode !== "supervised" || !this.#group) {
      const killed = this.memoryKilled();
      this.release();
      return killed;
    }
    const group = this.#group;
    this.#group = undefined;
    try {
      return (await client!.request({ op: "release", group })).memoryKilled === true;
    } catch {
      return false; // the supervisor removes the group itself once the process is gone
    }
  }

  /**
   * Stop watching and remove the groups (call once the process has exited).
   * Returns false when a group could not be removed yet (still populated).
   */
  release(): boolean {
    this.#stopWatch();
    if (this.#group) void this.finish();
    const left: string[] = [];
    for (const d of this.#dirs.splice(0)) {
      try {
        Deno.removeSync(d);
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) left.push(d);
      }
    }
    this.#dirs = left;
    return left.length === 0;
  }
}
