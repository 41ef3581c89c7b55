/**
 * The kernel side of a plugin host: one OS process per loaded plugin
 * (plugin_process.ts), length-prefixed frames on its pipes that the kernel
 * serves with the broker while a call runs, and limits the OS enforces. A
 * call that passes its deadline is interrupted inside the process (the
 * cooperative interrupt rewritten into the module) and, if it does not
 * answer within {@linkcode GRACE_MS}, SIGKILLed; a process over its memory
 * limit is killed by the OS (or the watchdog). A killed process is replaced
 * by a fresh one at the next call. How a failed call is reported is
 * host_violations.ts.
 * @module
 */
import { PluginViolationError, SandboxError } from "./errors.ts";
import type { Grants } from "./grants.ts";
import type { LoadedPlugin } from "./loader.ts";
import { type BrokerResponse, FRAME, type LoadMeta } from "./protocol.ts";
import {
  type Frame,
  HEAP_BASE_MIB,
  type PluginProcess,
  runtimeOverhead,
  WATCHDOG_OVERHEAD,
} from "./plugin_process.ts";
import { takeProcess } from "./spare.ts";
import { deathOf, formatBytes, violationOf } from "./host_violations.ts";

/** Serves one brokered request (raw JSON bytes plus optional payload). */
export type BrokerFn = (req: Uint8Array, payload: Uint8Array) => Promise<BrokerResponse>;

/** Result of {@linkcode PluginHost.call}. */
export interface CallResult {
  /** The plugin's JSON output bytes, or `null` when it produced none. */
  output: Uint8Array | null;
  /** Handles the plugin created and wrote during the call, by handle id. */
  handles: Record<number, ArrayBuffer>;
  /** Counters of the call: brokered requests, bytes read from and written to handles. */
  stats: { calls: number; bytesIn: number; bytesOut: number };
}

/** Options of {@linkcode PluginHost.call}. */
export interface CallOptions {
  /** Answers the plugin's requests (usually a broker's `handle`). */
  broker: BrokerFn;
  /** Time limit of the call in ms; a process that has not answered GRACE_MS later is killed. */
  timeoutMs: number;
  /** Cancels the call (the process is killed). */
  signal?: AbortSignal;
  /** Plugin log lines. */
  log?: (level: string, message: string) => void;
  /** Called when the call fails after a denied request: the detail to report. */
  lastDenial?: () => string | undefined;
  /** Each Extism host read the plugin made (`config_get`): for the audit trail. */
  hostRead?: (fn: string, key: string, found: boolean) => void;
}

/** How long past its deadline a call may take to unwind before its process is killed. */
export const GRACE_MS = 500;
/** Time a host process gets to compile and instantiate a module. */
export const LOAD_TIMEOUT_MS = 15_000;
const MiB = 1024 ** 2;
const enc = new TextEncoder();
const dec = new TextDecoder();
const EMPTY = new Uint8Array(0);
/** Distinct host reads reported per call; more are counted. */
const READS_MAX = 256;

/**
 * The handles a call sends back, assembled in the kernel. A handle comes as
 * HANDLE frames `{id, off, size}`: while the plugin still writes it, in
 * order (each `off` is where the previous frame ended), then the rest when
 * the call ends; a frame at `off` 0 starts it over (the plugin rewrote bytes
 * already sent). Each frame's data is read straight into the handle's
 * buffer, sized from `size` up front. The sum of the handles is bounded by
 * `max_output`, and the bytes received by twice that.
 */
class Outputs {
  #all = new Map<number, { buf: ArrayBuffer; len: number }>();
  #cur?: { id: number; at: number };
  #sum = 0;
  #moved = 0;

  constructor(readonly plugin: string, readonly max: number) {}

  /** Where the data of a HANDLE frame with `meta` and `n` bytes goes; throws to refuse it. */
  place(meta: Uint8Array, n: number): { into: ArrayBuffer; at: number } {
    const m = JSON.parse(dec.decode(meta));
    const id = m?.id, off = m?.off ?? 0, size = m?.size ?? n;
    const h = this.#all.get(id);
    if (!Number.isSafeInteger(id) || (off !== 0 && off !== h?.len) || !Number.isSafeInteger(size)) {
      throw new PluginViolationError(this.plugin, "malformed", `HANDLE frame out of order`);
    }
    const others = this.#sum - (h?.len ?? 0);
    const end = off + n;
    this.#moved += n;
    if (others + end > this.max || this.#moved > 2 * this.max) {
      throw new PluginViolationError(
        this.plugin,
        "oversized",
        `output exceeds max_output of ${formatBytes(this.max)}`,
      );
    }
    let buf = h?.buf;
    if (!buf || buf.byteLength < end) {
      const cap = Math.min(Math.max(size, end, 2 * (buf?.byteLength ?? 0)), this.max - others);
      const grown = new ArrayBuffer(Math.max(cap, end));
      if (buf && off) new Uint8Array(grown).set(new Uint8Array(buf, 0, off));
      buf = grown;
    }
    this.#cur = { id, at: off };
    return { into: buf, at: off };
  }

  /** The frame's data has arrived (in the buffer `place` gave, as a new object). */
  received(data: Uint8Array): void {
    const { id, at } = this.#cur!;
    const old = this.#all.get(id)?.len ?? 0;
    const len = at + data.length;
    this.#all.set(id, { buf: data.buffer as ArrayBuffer, len });
    this.#sum += len - old;
  }

  /** The handles by id, each an `ArrayBuffer` of its exact length. */
  done(): Record<number, ArrayBuffer> {
    const out: Record<number, ArrayBuffer> = {};
    for (const [id, h] of this.#all) {
      out[id] = h.len === h.buf.byteLength ? h.buf : h.buf.transfer(h.len);
    }
    this.#all.clear();
    return out;
  }
}

const lent = new WeakSet<ArrayBuffer>();

/**
 * Hand `bytes` to a plugin call as an input without copying them: list the
 * returned buffer in the call's `inputs`. A lent buffer is not detached (a
 * transfer would take it from its owner, e.g. a step output other steps
 * still read); the call writes it to the plugin process, which works on its
 * own copy, and keeps no reference once written. Its owner must not change
 * it until the call returns. Only a view of a whole `ArrayBuffer` can be
 * lent; any other view is copied.
 */
export function lendInput(bytes: Uint8Array): ArrayBuffer {
  const buf = bytes.buffer;
  if (buf instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === buf.byteLength) {
    lent.add(buf);
    return buf;
  }
  return bytes.slice().buffer;
}

/** A loaded plugin in its own OS process. Calls are serialized. */
export class PluginHost {
  /** Plugin name as configured under `plugins:`. */
  readonly name: string;
  /** The prepared plugin this host runs. */
  readonly plugin: LoadedPlugin;
  /** What the plugin may do; the broker checks every request against these. */
  readonly grants: Grants;
  /** Processes killed (timeout not honoured, memory, cancel, protocol) and replaced. */
  terminations = 0;
  #proc?: PluginProcess;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  #deadline = 0;

  private constructor(name: string, plugin: LoadedPlugin, grants: Grants) {
    this.name = name;
    this.plugin = plugin;
    this.grants = grants;
  }

  /** Start a host process and instantiate the plugin in it. */
  static async start(name: string, plugin: LoadedPlugin, grants: Grants): Promise<PluginHost> {
    const h = new PluginHost(name, plugin, grants);
    h.#proc = await h.#boot(runtimeOverhead() + grants.memory);
    return h;
  }

  /** Process id of the current host process (undefined once closed). */
  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  /** Deadline (epoch ms) of the call in progress (calls are serialized). */
  get deadline(): number {
    return this.#deadline;
  }

  async #boot(limit: number): Promise<PluginProcess> {
    const heapMiB = HEAP_BASE_MIB + Math.ceil(this.grants.memory / MiB);
    const proc = await takeProcess(heapMiB, limit);
    return await proc.hold(() => this.#load(proc));
  }

  async #load(proc: PluginProcess): Promise<PluginProcess> {
    const meta: LoadMeta = {
      name: this.name,
      config: Object.fromEntries(
        Object.entries(this.grants.config).map((
          [k, v],
        ) => [k, typeof v === "string" ? v : JSON.stringify(v)]),
      ),
      maxPages: this.plugin.maxPages,
      maxOutput: this.grants.max_output,
      maxMessage: this.grants.max_message,
      maxVarBytes: this.grants.memory,
      maxRss: this.#rssLimit(0),
    };
    const timer = setTimeout(() => proc.kill("timeout"), LOAD_TIMEOUT_MS);
    let f: Frame | undefined;
    try {
      await proc.send(FRAME.LOAD, meta, this.plugin.bytes);
      f = await proc.next(64 * 1024, () => 0);
    } catch {
      f = undefined;
    } finally {
      clearTimeout(timer);
    }
    if (f?.type === FRAME.LOADED) return proc;
    proc.kill("protocol");
    const why = f?.type === FRAME.ERROR
      ? String(JSON.parse(dec.decode(f.meta)).message)
      : proc.killedFor === "timeout"
      ? `it did not load within ${LOAD_TIMEOUT_MS} ms`
      : (await this.#death(proc, LOAD_TIMEOUT_MS)).message;
    await proc.close();
    throw new PluginViolationError(this.name, "crashed", `could not be instantiated: ${why}`);
  }

  /**
   * The RSS limit the host process checks itself against (defence in depth,
   * whatever the OS enforces): its whole RSS, so the watchdog's overhead.
   */
  #rssLimit(inputBytes: number): number {
    return WATCHDOG_OVERHEAD + this.grants.memory + inputBytes;
  }

  /** A live process with the module loaded and a memory limit fit for `inputBytes`. */
  async #ready(inputBytes: number): Promise<PluginProcess> {
    const limit = runtimeOverhead() + this.grants.memory + inputBytes;
    let proc = this.#proc;
    if (proc?.alive && proc.confinement.limit !== limit) {
      try {
        await proc.confinement.setLimit(limit);
      } catch {
        // Still holds more than the new limit (garbage of a bigger call): start afresh.
        await proc.close();
      }
    }
    if (!proc?.alive) {
      if (proc) void proc.close();
      proc = this.#proc = await this.#boot(limit);
    }
    return proc;
  }

  /**
   * Call export `fn`; `inputs` become read handles 1…n (sent to the process,
   * not kept). Each is transferred (detached), unless lent ({@linkcode lendInput}).
   */
  call(
    fn: string,
    input: Uint8Array,
    inputs: ArrayBuffer[],
    options: CallOptions,
  ): Promise<CallResult> {
    const run = this.#queue.then(() => this.#call(fn, input, inputs, options));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #call(fn: string, input: Uint8Array, inputs: ArrayBuffer[], o: CallOptions) {
    if (this.#closed) throw new SandboxError(`plugin "${this.name}": host is closed`);
    o.signal?.throwIfAborted();
    const inputBytes = inputs.reduce((n, b) => n + b.byteLength, 0);
    const proc = await this.#ready(inputBytes);
    return await proc.hold(() => this.#run(proc, fn, input, inputs, o, inputBytes));
  }

  async #run(
    proc: PluginProcess,
    fn: string,
    input: Uint8Array,
    inputs: ArrayBuffer[],
    o: CallOptions,
    inputBytes: number,
  ): Promise<CallResult> {
    const deadline = this.#deadline = Date.now() + o.timeoutMs;
    const timer = setTimeout(() => proc.kill("timeout"), o.timeoutMs + GRACE_MS);
    const onAbort = () => proc.kill("cancelled");
    o.signal?.addEventListener("abort", onAbort);
    try {
      const sizes = inputs.map((b) => b.byteLength);
      const maxRss = this.#rssLimit(inputBytes);
      await proc.send(FRAME.CALL, { fn, deadline, inputs: sizes, maxRss }, input);
      // The inputs follow the CALL frame as INPUT frames, queued now (so before any RESPONSE)
      // and written while the frames the plugin sends meanwhile are served: the process reads
      // them as the plugin reads its handles. The kernel keeps no copy: each buffer is taken
      // over (detached, as a transfer would, unless lent) and only the stream holds it until
      // it is written.
      for (let i = 0; i < inputs.length; i++) {
        const own = lent.has(inputs[i]) ? inputs[i] : inputs[i].transfer();
        inputs[i] = new ArrayBuffer(0);
        proc.send(FRAME.INPUT, EMPTY, new Uint8Array(own)).catch(() => {});
      }
      return await this.#serve(proc, o, inputBytes);
    } catch (err) {
      if (err instanceof PluginViolationError || err === o.signal?.reason) throw err;
      throw await this.#death(proc, o.timeoutMs, o.signal);
    } finally {
      clearTimeout(timer);
      o.signal?.removeEventListener("abort", onAbort);
      if (!proc.alive) this.terminations++;
    }
  }

  /** Read frames until the call ends, answering requests with the broker. */
  async #serve(proc: PluginProcess, o: CallOptions, inputBytes: number): Promise<CallResult> {
    const g = this.grants;
    const out = new Outputs(this.name, g.max_output);
    const maxData = (type: number) =>
      type === FRAME.REQUEST
        ? g.max_output + inputBytes + g.memory
        : type === FRAME.HANDLE
        ? g.max_output
        : type === FRAME.RESULT
        ? g.max_message
        : 0;
    const place = (type: number, meta: Uint8Array, n: number) =>
      type === FRAME.HANDLE ? out.place(meta, n) : undefined;
    const gone = proc.exited.then(() => undefined);
    for (;;) {
      let f: Frame | undefined;
      try {
        f = await proc.next(g.max_message + 65_536, maxData, { place });
      } catch (err) {
        proc.kill("protocol");
        throw err;
      }
      if (!f) throw await this.#death(proc, o.timeoutMs, o.signal);
      if (f.type === FRAME.REQUEST) {
        const res = await Promise.race([answer(o.broker, f), gone]);
        if (!res) throw await this.#death(proc, o.timeoutMs, o.signal);
        const json = enc.encode(
          JSON.stringify(res.fatal ? { ok: false, fatal: true, ...res.json } : res.json),
        );
        await proc.send(FRAME.RESPONSE, json, res.payload);
      } else if (f.type === FRAME.LOG) {
        const m = JSON.parse(dec.decode(f.meta));
        o.log?.(String(m.level), String(m.message));
      } else if (f.type === FRAME.READS) {
        reportReads(JSON.parse(dec.decode(f.meta)), o);
      } else if (f.type === FRAME.HANDLE) {
        out.received(f.data);
      } else if (f.type === FRAME.RESULT) {
        const m = JSON.parse(dec.decode(f.meta));
        return { output: m.hasOutput ? f.data : null, handles: out.done(), stats: m.stats };
      } else if (f.type === FRAME.ERROR) {
        throw this.#violation(JSON.parse(dec.decode(f.meta)), o);
      } else {
        proc.kill("protocol");
        throw new PluginViolationError(this.name, "crashed", `unexpected frame type ${f.type}`);
      }
    }
  }

  /** The error of a call the process answered with an ERROR frame. */
  #violation(reply: { kind: string; message: string }, o: CallOptions): Error {
    return violationOf(this, reply, o);
  }

  /** Why the process is gone, as the error of the call (or load) it was serving. */
  #death(proc: PluginProcess, timeoutMs: number, signal?: AbortSignal): Promise<Error> {
    return deathOf(this, proc, timeoutMs, signal);
  }

  /** Stop the host process. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#proc?.close();
  }
}

async function answer(broker: BrokerFn, f: Frame): Promise<BrokerResponse> {
  try {
    return await broker(f.meta, f.data);
  } catch (err) {
    return {
      json: {
        ok: false,
        error: { code: "failed", message: String((err as Error)?.message ?? err) },
      },
    };
  }
}

/** Pass the host reads of a READS frame on to `o.hostRead` (a count when some were dropped). */
function reportReads(m: { reads?: unknown; dropped?: unknown }, o: CallOptions): void {
  if (!o.hostRead || !Array.isArray(m.reads)) return;
  for (const r of m.reads.slice(0, READS_MAX)) {
    if (Array.isArray(r)) o.hostRead(String(r[0]), String(r[1]), r[2] === true);
  }
  const dropped = Number(m.dropped) || 0;
  if (dropped > 0) o.hostRead("config_get", `(${dropped} more reads)`, true);
}
