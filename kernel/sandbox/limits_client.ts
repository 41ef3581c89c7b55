/**
 * The kernel's side of the limits supervisor (cli/limits_supervisor.ts).
 *
 * Deno (2.9.6) refuses every access under `/sys` and `/proc/<pid>` to a
 * process without `--allow-all`, so the least-privilege child of
 * `flowyml run` / `flowyml worker` can neither create cgroups nor read a
 * plugin process's RSS. The trusted parent CLI (broad permissions) listens
 * on a Unix socket in a private folder (mode 0700) and passes its path and a
 * random token in {@linkcode SOCKET_ENV} / {@linkcode TOKEN_ENV}; the child
 * gets read, write and `net=unix:<path>` on that socket only. After spawning
 * a plugin process, and before sending it any untrusted bytes, the kernel
 * asks the supervisor to put it under its limits.
 *
 * Wire format: one JSON object per line, both ways. Requests
 * `{id, token, op, …}` with `op` one of `attach {pid, memoryBytes}`,
 * `limit {group, memoryBytes}`, `release {group}`; replies
 * `{id, ok: true, group?, mode?, memoryKilled?}` or `{id, ok: false, error}`.
 * @module
 */

/** Env variable holding the supervisor's socket path. */
export const SOCKET_ENV = "FLOWYML_LIMITS_SOCKET";
/** Env variable holding the token every request carries. */
export const TOKEN_ENV = "FLOWYML_LIMITS_TOKEN";
/** How long the kernel waits for a supervisor reply before it falls back. */
export const SUPERVISOR_TIMEOUT_MS = 5_000;

/** A request to the supervisor (without `id` and `token`, which the client adds). */
export type SupervisorRequest =
  | { op: "attach"; pid: number; memoryBytes: number; pidsMax?: number }
  | { op: "limit"; group: string; memoryBytes: number }
  | { op: "release"; group: string };

/** A successful reply. */
export interface SupervisorReply {
  ok: true;
  /** The group id (attach). */
  group?: string;
  /** How the supervisor enforces the limit: `cgroup-v1`, `cgroup-v2` or `watchdog`. */
  mode?: string;
  /** Whether the process was stopped for its memory (release). */
  memoryKilled?: boolean;
}

/** The supervisor's address from the environment, or undefined (not set, or not readable). */
export function supervisorAddress(): { path: string; token: string } | undefined {
  try {
    const path = Deno.env.get(SOCKET_ENV);
    const token = Deno.env.get(TOKEN_ENV);
    return path && token ? { path, token } : undefined;
  } catch {
    return undefined; // no --allow-env for them: not a supervised child
  }
}

interface Pending {
  resolve: (r: SupervisorReply) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** One connection to the supervisor; requests are answered in any order, by id. */
export class SupervisorClient {
  #addr: { path: string; token: string };
  #conn?: Promise<Deno.UnixConn>;
  #pending = new Map<number, Pending>();
  #seq = 0;

  constructor(addr: { path: string; token: string }) {
    this.#addr = addr;
  }

  /** Send `req` and wait for its reply (rejects on an error reply, a broken socket or timeout). */
  async request(
    req: SupervisorRequest,
    timeoutMs = SUPERVISOR_TIMEOUT_MS,
  ): Promise<SupervisorReply> {
    const conn = await this.#connect();
    const id = ++this.#seq;
    const line = JSON.stringify({ ...req, id, token: this.#addr.token }) + "\n";
    const reply = new Promise<SupervisorReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        this.#idle(conn);
        reject(new Error(`no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
    });
    conn.ref();
    try {
      await writeAll(conn, new TextEncoder().encode(line));
    } catch (err) {
      this.#fail(err as Error);
    }
    return await reply;
  }

  #connect(): Promise<Deno.UnixConn> {
    this.#conn ??= Deno.connect({ transport: "unix", path: this.#addr.path }).then((c) => {
      void this.#read(c);
      return c;
    });
    const p = this.#conn;
    p.catch(() => {
      if (this.#conn === p) this.#conn = undefined;
    });
    return p;
  }

  async #read(conn: Deno.UnixConn): Promise<void> {
    const dec = new TextDecoder();
    let buf = "";
    try {
      for await (const chunk of conn.readable) {
        buf += dec.decode(chunk, { stream: true });
        for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
          this.#answer(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
        }
        this.#idle(conn);
      }
      this.#fail(new Error("the supervisor closed the connection"));
    } catch (err) {
      this.#fail(err as Error);
    }
  }

  #answer(line: string): void {
    let msg: { id?: number; ok?: boolean; error?: string } & Partial<SupervisorReply>;
    try {
      msg = JSON.parse(line);
    } catch {
      return;
    }
    const p = this.#pending.get(Number(msg.id));
    if (!p) return;
    this.#pending.delete(Number(msg.id));
    clearTimeout(p.timer);
    if (msg.ok) p.resolve(msg as SupervisorReply);
    else p.reject(new Error(String(msg.error ?? "refused")));
  }

  /** No request pending: the connection must not keep the kernel alive. */
  #idle(conn: Deno.UnixConn): void {
    if (this.#pending.size === 0) conn.unref();
  }

  #fail(err: Error): void {
    const conn = this.#conn;
    this.#conn = undefined;
    conn?.then((c) => c.close()).catch(() => {});
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      p.reject(err);
      this.#pending.delete(id);
    }
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let o = 0; o < bytes.length;) o += await conn.write(bytes.subarray(o));
}
