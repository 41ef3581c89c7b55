/**
 * The limits supervisor: runs in the trusted parent CLI process (`flowyml
 * run`, `flowyml worker`), which holds broad permissions, and puts the plugin
 * processes of its least-privilege child under OS limits for it. Deno
 * (2.9.6) refuses any access under `/sys` and `/proc/<pid>` without
 * `--allow-all`, so the child itself can neither create a cgroup nor read a
 * plugin process's RSS.
 *
 * It listens on a Unix socket in a fresh private folder (mode 0700) under the
 * project's `.flowyml/run/`; the child gets the path and a random token in
 * its environment (kernel/sandbox/limits_client.ts) and read, write and
 * `net=unix:<path>` on that socket only. For each request it checks the
 * token, that the pid descends from the child it started (`/proc/<pid>/stat`
 * ppid chain) and that its command line is flowyml's own no-permission host
 * or instrumenter process; then it creates the groups (cgroup v1 memory +
 * pids, or v2; or samples it with its watchdog where cgroups are not
 * writable), writes the limits and moves the pid in, all through
 * kernel/sandbox/limits.ts. It removes a group once its process is gone, and
 * on close kills what is left in its groups and removes them.
 * @module
 */
import { join } from "../kernel/_path.ts";
import { Confinement, type LimitMode, limitMode, processStat } from "../kernel/sandbox/limits.ts";
import { SOCKET_ENV, TOKEN_ENV } from "../kernel/sandbox/limits_client.ts";
import {
  EXTISM_ENV,
  FLOWYML_ROOT,
  RUNTIME_OVERHEAD,
  WATCHDOG_OVERHEAD,
} from "../kernel/sandbox/plugin_process.ts";
import type { PermissionNeeds } from "../kernel/component.ts";

/** A running supervisor. */
export interface LimitsSupervisor {
  /** The socket's path. */
  readonly path: string;
  /** The token every request must carry. */
  readonly token: string;
  /** How it enforces limits (this process's own mode). */
  readonly mode: LimitMode;
  /** The env variables to pass to the child. */
  readonly env: Record<string, string>;
  /** The permissions the child needs to reach it. */
  readonly needs: PermissionNeeds;
  /** Accept requests for descendants of process `pid` (the child, once spawned). */
  watch(pid: number): void;
  /** Stop: kill what is left in its groups, remove them, the socket and its folder. */
  close(): Promise<void>;
}

/** Most groups held at once (a child asking for more is refused). */
const MAX_GROUPS = 512;
/** Longest request line accepted. */
const MAX_LINE = 4096;
/** Unix socket paths are limited to 108 bytes (sun_path). */
const MAX_SOCKET_PATH = 100;
const HOST_ENTRIES = ["host_process.ts", "instrument_process.ts"].map((f) =>
  `${FLOWYML_ROOT}/kernel/sandbox/${f}`
);

/**
 * Start a supervisor with its socket under `<stateDir>/run/`, or undefined
 * when this process cannot enforce limits itself (no writable cgroups and no
 * readable `/proc`) or cannot listen.
 */
export async function startLimitsSupervisor(
  stateDir: string,
): Promise<LimitsSupervisor | undefined> {
  const mode = limitMode();
  if (mode !== "cgroup-v1" && mode !== "cgroup-v2" && mode !== "watchdog") return undefined;
  let dir: string | undefined;
  try {
    dir = await privateDir(stateDir);
    const path = join(dir, "s");
    const listener = Deno.listen({ transport: "unix", path });
    return new Supervisor(listener, { dir, path, mode });
  } catch (err) {
    if (dir) await Deno.remove(dir, { recursive: true }).catch(() => {});
    console.error(`flowyml: could not start the limits supervisor: ${(err as Error).message}`);
    return undefined;
  }
}

/** A fresh 0700 folder for the socket: under `<stateDir>/run/`, or in /tmp when that path is too long. */
async function privateDir(stateDir: string): Promise<string> {
  const run = join(stateDir, "run");
  await Deno.mkdir(run, { recursive: true, mode: 0o700 });
  const dir = await Deno.makeTempDir({ dir: run, prefix: "limits-" });
  if (dir.length + 2 <= MAX_SOCKET_PATH) {
    await Deno.chmod(dir, 0o700);
    return dir;
  }
  await Deno.remove(dir);
  return await Deno.makeTempDir({ prefix: "flowyml-limits-" }); // 0700
}

interface Group {
  pid: number;
  conf: Confinement;
  /** The child released it (or its process is gone); removed once empty. */
  released: boolean;
}

interface Request {
  id?: unknown;
  token?: unknown;
  op?: unknown;
  pid?: unknown;
  group?: unknown;
  memoryBytes?: unknown;
}

class Supervisor implements LimitsSupervisor {
  readonly path: string;
  readonly token = randomToken();
  readonly mode: LimitMode;
  readonly env: Record<string, string>;
  readonly needs: PermissionNeeds;
  #dir: string;
  #listener: Deno.Listener;
  #root = 0;
  #groups = new Map<string, Group>();
  #seq = 0;
  #sweeper: ReturnType<typeof setInterval>;
  #conns = new Set<Deno.Conn>();

  constructor(listener: Deno.Listener, o: { dir: string; path: string; mode: LimitMode }) {
    this.#listener = listener;
    this.#dir = o.dir;
    this.path = o.path;
    this.mode = o.mode;
    this.env = { [SOCKET_ENV]: o.path, [TOKEN_ENV]: this.token };
    this.needs = {
      read: [o.path],
      write: [o.path],
      net: [`unix:${o.path}`],
      env: [SOCKET_ENV, TOKEN_ENV],
    };
    this.#sweeper = setInterval(() => this.#sweep(), 1000);
    Deno.unrefTimer(this.#sweeper);
    listener.unref();
    void this.#accept();
  }

  watch(pid: number): void {
    this.#root = pid;
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) void this.#serve(conn);
    } catch {
      // closed
    }
  }

  async #serve(conn: Deno.Conn): Promise<void> {
    this.#conns.add(conn);
    conn.unref();
    const dec = new TextDecoder();
    const enc = new TextEncoder();
    let buf = "";
    try {
      for await (const chunk of conn.readable) {
        buf += dec.decode(chunk, { stream: true });
        for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          const { reply, close } = await this.#handle(line);
          await conn.write(enc.encode(JSON.stringify(reply) + "\n"));
          if (close) return;
        }
        if (buf.length > MAX_LINE) return;
      }
    } catch {
      // the child went away
    } finally {
      this.#conns.delete(conn);
      try {
        conn.close();
      } catch {
        // closed
      }
    }
  }

  async #handle(line: string): Promise<{ reply: Record<string, unknown>; close?: boolean }> {
    let req: Request;
    try {
      req = JSON.parse(line);
    } catch {
      return { reply: { ok: false, error: "malformed request" }, close: true };
    }
    const id = Number.isSafeInteger(req?.id) ? req.id : null;
    if (typeof req?.token !== "string" || !sameToken(req.token, this.token)) {
      return { reply: { id, ok: false, error: "bad token" }, close: true };
    }
    try {
      return { reply: { id, ok: true, ...await this.#op(req) } };
    } catch (err) {
      return { reply: { id, ok: false, error: (err as Error).message ?? String(err) } };
    }
  }

  async #op(req: Request): Promise<Record<string, unknown>> {
    if (req.op === "attach") return this.#attach(req);
    const g = typeof req.group === "string" ? this.#groups.get(req.group) : undefined;
    if (!g) throw new Error(`no group ${String(req.group).slice(0, 40)}`);
    if (req.op === "limit") {
      await g.conf.setLimit(this.#bytes(req.memoryBytes));
      return {};
    }
    if (req.op === "release") {
      const memoryKilled = g.conf.memoryKilled();
      g.released = true;
      this.#sweep();
      return { memoryKilled };
    }
    throw new Error(`unknown op ${String(req.op).slice(0, 40)}`);
  }

  #attach(req: Request): Record<string, unknown> {
    const pid = req.pid;
    if (typeof pid !== "number" || !Number.isSafeInteger(pid) || pid <= 1) {
      throw new Error("pid must be a process id");
    }
    const bytes = this.#bytes(req.memoryBytes);
    if (this.#groups.size >= MAX_GROUPS) throw new Error(`more than ${MAX_GROUPS} groups`);
    checkDescendant(pid, this.#root);
    checkHostProcess(pid);
    const conf = Confinement.attach(pid, bytes, () => killQuietly(pid));
    const group = `g${++this.#seq}`;
    this.#groups.set(group, { pid, conf, released: false });
    return { group, mode: conf.mode };
  }

  /**
   * A limit from a request, as this process enforces it: the watchdog sees
   * the whole RSS, where a cgroup counts only what the process charged after
   * it moved in, so it gets the difference of the two overheads on top.
   */
  #bytes(v: unknown): number {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1 << 20 || v > 2 ** 44) {
      throw new Error("memoryBytes must be a whole number of bytes, 1 MiB to 16 TiB");
    }
    return this.mode === "watchdog" ? v + WATCHDOG_OVERHEAD - RUNTIME_OVERHEAD : v;
  }

  /** Remove the groups of processes that are gone, and released groups once empty. */
  #sweep(): void {
    for (const [id, g] of this.#groups) {
      if (!g.released && alive(g.pid)) continue;
      g.released = true;
      if (g.conf.release()) this.#groups.delete(id);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    try {
      this.#listener.close();
    } catch {
      // closed
    }
    for (const c of this.#conns) {
      try {
        c.close();
      } catch {
        // closed
      }
    }
    // The child is gone: what is left in a group is one of its plugin processes.
    for (const g of this.#groups.values()) {
      if (alive(g.pid) && isHostProcess(g.pid)) killQuietly(g.pid);
    }
    for (let i = 0; i < 80 && this.#groups.size; i++) {
      for (const g of this.#groups.values()) g.released = true;
      this.#sweep();
      if (this.#groups.size) await new Promise((r) => setTimeout(r, 25));
    }
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}

function randomToken(): string {
  const b = crypto.getRandomValues(new Uint8Array(32));
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

/** Compare without an early exit on the first differing character. */
function sameToken(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) diff |= (a.charCodeAt(i) | 0) ^ b.charCodeAt(i);
  return diff === 0;
}

function alive(pid: number): boolean {
  const s = processStat(pid);
  return s !== undefined && s.state !== "Z" && s.state !== "X";
}

function checkDescendant(pid: number, root: number): void {
  let p = pid;
  for (let i = 0; i < 32 && root > 1; i++) {
    const s = processStat(p);
    if (!s) break;
    if (s.ppid === root) return;
    if (s.ppid <= 1) break;
    p = s.ppid;
  }
  throw new Error(`process ${pid} is not a descendant of the pipeline process`);
}

/** `deno run` of flowyml's host or instrumenter entry, with no permission but Extism's env. */
function isHostProcess(pid: number): boolean {
  let args: string[];
  try {
    args = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0").filter(Boolean);
  } catch {
    return false;
  }
  const allowed = `--allow-env=${EXTISM_ENV.join(",")}`;
  const perms = args.filter((a) => /^(-A|--allow-|--unsafely|--unstable)/.test(a));
  return args[1] === "run" && HOST_ENTRIES.includes(args[args.length - 1]) &&
    perms.every((a) => a === allowed);
}

function checkHostProcess(pid: number): void {
  if (!isHostProcess(pid)) throw new Error(`process ${pid} is not a flowyml plugin host process`);
}

function killQuietly(pid: number): void {
  try {
    Deno.kill(pid, "SIGKILL");
  } catch {
    // gone
  }
}
