/**
 * The net helper: a small `deno run` process that performs a plugin's
 * brokered HTTP requests (`http.fetch`). It holds `--allow-net` for the
 * plugin's granted hosts (every host only for a glob grant, which Deno flags
 * cannot express) and nothing else, so neither the kernel nor pipeline code
 * ever needs the network access a plugin was granted. The kernel spawns one
 * per plugin call that makes HTTP requests and kills it when the call ends,
 * when the request passes its deadline, or when the call is cancelled.
 * @module
 */
import { fileURLToPath } from "node:url";

const ENTRY = fileURLToPath(new URL("./net_helper_main.ts", import.meta.url));
/** Redirects followed at most per request. */
export const MAX_HOPS = 5;
/** Extra time the kernel grants the helper past a request's deadline before killing it. */
const KILL_GRACE_MS = 1000;

/** One hop of a request, as reported for the audit trail. */
export interface NetHop {
  /** The hop's URL (secrets redacted by the broker before it is audited). */
  url: string;
  /** Whether the grants allowed this hop. */
  allowed: boolean;
  /** The HTTP status the hop answered, when it was contacted. */
  status?: number;
  /** Why it was refused, or what happened. */
  detail: string;
}

/** A request for the helper. */
export interface NetRequest {
  /** The URL of the first hop. */
  url: string;
  /** HTTP method. */
  method: string;
  /** Request headers (secret values already resolved; stripped on a change of origin). */
  headers: Record<string, string>;
  /** Header names carrying a secret → hosts the secret is bound to (null: any granted host). */
  secretHeaders: Record<string, string[] | null>;
  /** `grants.net`: checked on every hop. */
  net: string[];
  /** Body bytes allowed; more aborts the request. */
  maxBytes: number;
  /** Deadline of the whole exchange, all hops and the body included. */
  timeoutMs: number;
  /** Request body, if any. */
  body?: Uint8Array;
}

/** What came back. */
export type NetResult =
  | { ok: true; status: number; headers: Record<string, string>; body: Uint8Array; hops: NetHop[] }
  | { ok: false; code: "denied" | "oversized" | "failed"; message: string; hops: NetHop[] };

/** The `deno run` arguments of a helper for `net` (exported for tests and docs). */
export function netHelperArgs(net: readonly string[]): string[] {
  const glob = net.some((h) => /[*?]/.test(h));
  return [
    "run",
    "--quiet",
    "--no-config",
    "--no-lock",
    "--no-prompt",
    "--v8-flags=--max-old-space-size=96",
    glob ? "--allow-net" : `--allow-net=${[...new Set(net)].join(",")}`,
    ENTRY,
  ];
}

/** A running net helper process. */
export class NetHelper {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #chunks: Uint8Array[] = [];
  #len = 0;
  #closed = false;
  /** Resolves when the process has exited. */
  readonly exited: Promise<Deno.CommandStatus>;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    this.#reader = child.stdout.getReader();
    this.exited = child.status;
  }

  /** Spawn a helper allowed to reach `net` (grants.net). Needs `--allow-run` for Deno itself. */
  static spawn(net: readonly string[]): NetHelper {
    const child = new Deno.Command(Deno.execPath(), {
      args: netHelperArgs(net),
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
      clearEnv: true,
      env: { NO_COLOR: "1" },
    }).spawn();
    return new NetHelper(child);
  }

  /** Process id of the helper. */
  get pid(): number {
    return this.#child.pid;
  }

  /** Perform `q`; aborts (and kills the helper) at its deadline or when `signal` aborts. */
  async request(q: NetRequest, signal?: AbortSignal): Promise<NetResult> {
    const hops: NetHop[] = [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stop = new Promise<NetResult>((resolve) => {
      const end = (message: string) => {
        this.close();
        resolve({ ok: false, code: "failed", message, hops });
      };
      timer = setTimeout(
        () => end(`no complete answer within ${q.timeoutMs} ms (the request was aborted)`),
        q.timeoutMs + KILL_GRACE_MS,
      );
      signal?.addEventListener("abort", () => end("the call was cancelled"), { once: true });
    });
    try {
      await this.#send(q);
      return await Promise.race([this.#receive(q, hops), stop]);
    } catch (err) {
      this.close();
      return { ok: false, code: "failed", message: `net helper failed: ${err}`, hops };
    } finally {
      clearTimeout(timer);
    }
  }

  async #send(q: NetRequest): Promise<void> {
    const json = new TextEncoder().encode(JSON.stringify({
      url: q.url,
      method: q.method,
      headers: q.headers,
      secret_headers: q.secretHeaders,
      net: q.net,
      max_bytes: q.maxBytes,
      timeout_ms: q.timeoutMs,
      max_hops: MAX_HOPS,
    }));
    const body = q.body ?? new Uint8Array(0);
    const frame = new Uint8Array(8 + json.length + body.length);
    const dv = new DataView(frame.buffer);
    dv.setUint32(0, json.length);
    dv.setUint32(4, body.length);
    frame.set(json, 8);
    frame.set(body, 8 + json.length);
    await this.#writer.write(frame);
  }

  async #receive(q: NetRequest, hops: NetHop[]): Promise<NetResult> {
    const chunks: Uint8Array[] = [];
    let size = 0;
    let head: { status: number; headers: Record<string, string> } | undefined;
    for (;;) {
      const f = await this.#frame(q.maxBytes);
      if (!f) return { ok: false, code: "failed", message: "net helper exited", hops };
      const m = f.json as Record<string, unknown>;
      if (m.type === "hop") hops.push(m as unknown as NetHop);
      else if (m.type === "head") head = m as unknown as typeof head;
      else if (m.type === "chunk") {
        size += f.body.length;
        if (size > q.maxBytes) {
          this.close();
          return { ok: false, code: "oversized", message: `body passed ${q.maxBytes} bytes`, hops };
        }
        chunks.push(f.body);
      } else if (m.type === "error") {
        return { ok: false, code: m.code as "failed", message: String(m.message), hops };
      } else if (m.type === "end" && head) {
        const body = new Uint8Array(size);
        let o = 0;
        for (const c of chunks) body.set(c, (o += c.length) - c.length);
        return { ok: true, status: head.status, headers: head.headers, body, hops };
      }
    }
  }

  async #frame(maxBody: number): Promise<{ json: unknown; body: Uint8Array } | undefined> {
    if (!(await this.#fill(8))) return undefined;
    const head = this.#take(8);
    const dv = new DataView(head.buffer, head.byteOffset, 8);
    const jl = dv.getUint32(0), bl = dv.getUint32(4);
    if (jl > 1 << 22 || bl > Math.min(maxBody, 1 << 20) + 1) {
      throw new Error(`frame of ${jl}+${bl} bytes is out of bounds`);
    }
    if (!(await this.#fill(jl + bl))) return undefined;
    const json = JSON.parse(new TextDecoder().decode(this.#take(jl)));
    return { json, body: this.#take(bl) };
  }

  /** Read until `n` bytes are buffered; false at the end of the stream. */
  async #fill(n: number): Promise<boolean> {
    while (this.#len < n) {
      const r = await this.#reader.read();
      if (r.done) return false;
      this.#chunks.push(r.value);
      this.#len += r.value.length;
    }
    return true;
  }

  /** The next `n` buffered bytes (copied once, only when they span chunks). */
  #take(n: number): Uint8Array {
    const first = this.#chunks[0];
    this.#len -= n;
    if (first && first.length >= n) {
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = new Uint8Array(n);
    let o = 0;
    while (o < n) {
      const c = this.#chunks[0];
      const k = Math.min(c.length, n - o);
      out.set(c.subarray(0, k), o);
      o += k;
      if (k === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(k);
    }
    return out;
  }

  /** Kill the helper (SIGKILL); safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // already exited
    }
    this.#writer.close().catch(() => {});
    this.#reader.cancel().catch(() => {});
  }

  /** Kill the helper and wait until it has exited. */
  async dispose(): Promise<void> {
    this.close();
    await this.exited.catch(() => {});
  }
}
