/**
 * The kernel side of a plugin host: one Deno Worker with narrowed
 * permissions per loaded plugin, a SharedArrayBuffer channel that the kernel
 * serves while a call runs, and timeouts that really stop the plugin (the
 * cooperative interrupt rewritten into the module unwinds it; a worker that
 * still does not answer is terminated and replaced).
 * @module
 */
import { PluginViolationError, SandboxError, type ViolationKind } from "./errors.ts";
import type { Grants } from "./grants.ts";
import type { LoadedPlugin } from "./loader.ts";
import {
  type BrokerResponse,
  DATA_BYTE,
  DEADLINE_BYTE,
  type FromWorker,
  SLOT,
  STATE,
  type ToWorker,
} from "./protocol.ts";
import { takeWorker } from "./spare.ts";
import { setImmediate } from "node:timers";

export { WORKER_PERMISSIONS } from "./spare.ts";

/** Serves one brokered request (raw JSON bytes plus optional payload). */
export type BrokerFn = (req: Uint8Array, payload: Uint8Array) => Promise<BrokerResponse>;

/** Result of {@linkcode PluginHost.call}. */
export interface CallResult {
  /** The plugin's JSON output bytes, or `null` when it produced none. */
  output: Uint8Array | null;
  /** Handles the plugin created and wrote during the call, by handle id (buffers transferred). */
  handles: Record<number, ArrayBuffer>;
  /** Counters of the call: brokered requests, bytes read from and written to handles. */
  stats: { calls: number; bytesIn: number; bytesOut: number };
}

/** Options of {@linkcode PluginHost.call}. */
export interface CallOptions {
  /** Answers the plugin's requests (usually a broker's `handle`). */
  broker: BrokerFn;
  /** Time limit of the call in ms; a plugin that does not stop 1.5 s later loses its worker. */
  timeoutMs: number;
  /** Cancels the call (the plugin is interrupted). */
  signal?: AbortSignal;
  /** Plugin log lines. */
  log?: (level: string, message: string) => void;
  /** Called when the call fails after a denied request: the detail to report. */
  lastDenial?: () => string | undefined;
}

const GRACE_MS = 1500;
// Channel waiting (see docs/sandbox.md, "Measured"): after answering, spin at most
// SPIN_MS for the next request, then Atomics.waitAsync. The kernel keeps spinning even
// on a loaded machine (the worker is the side that backs off: a blocked worker is woken
// with a scheduler boost, a spinning kernel keeps its core). The event loop runs at
// least every YIELD_EVERY_MS while a plugin makes calls in a row.
const SPIN_MS = 0.1;
const YIELD_EVERY_MS = 2;

/** Let timers and I/O of the kernel's event loop run (a macrotask turn). */
function yieldToEventLoop(): Promise<void> {
  // setImmediate runs after pending I/O; setTimeout(0) would cost ~2 ms (nesting clamp).
  return new Promise((resolve) => setImmediate(resolve));
}
const enc = new TextEncoder();

/** Spin up to `ms` while STATE is `s`; true if it changed. */
function spinWhile(ctrl: Int32Array, s: number, ms: number): boolean {
  const t0 = performance.now();
  while (performance.now() - t0 < ms) if (Atomics.load(ctrl, SLOT.STATE) !== s) return true;
  return false;
}

/** A loaded plugin in its own worker. Calls are serialized. */
export class PluginHost {
  /** Plugin name as configured under `plugins:`. */
  readonly name: string;
  /** The compiled plugin this host runs. */
  readonly plugin: LoadedPlugin;
  /** What the plugin may do; the broker checks every request against these. */
  readonly grants: Grants;
  #worker!: Worker;
  #sab!: SharedArrayBuffer;
  #ctrl!: Int32Array;
  #ids = 0;
  #pending = new Map<number, (m: FromWorker) => void>();
  #queue: Promise<unknown> = Promise.resolve();
  #log?: (level: string, message: string) => void;
  #closed = false;
  /** Workers replaced after they failed to stop (should stay 0). */
  terminations = 0;

  private constructor(name: string, plugin: LoadedPlugin, grants: Grants) {
    this.name = name;
    this.plugin = plugin;
    this.grants = grants;
  }

  /** Start a worker and instantiate the plugin in it. */
  static async start(name: string, plugin: LoadedPlugin, grants: Grants): Promise<PluginHost> {
    const h = new PluginHost(name, plugin, grants);
    await h.#boot();
    return h;
  }

  async #boot(): Promise<void> {
    const w = await takeWorker();
    this.#worker = w;
    let failed: (err: Error) => void = () => {};
    const crashed = new Promise<never>((_, reject) => (failed = reject));
    crashed.catch(() => {});
    w.onmessage = (ev: MessageEvent<FromWorker>) => {
      const m = ev.data;
      if (m.type === "log") return this.#log?.(m.level, m.message);
      if ("id" in m) {
        const cb = this.#pending.get(m.id);
        this.#pending.delete(m.id);
        cb?.(m);
      }
    };
    w.onerror = (e) => {
      e.preventDefault();
      failed(new SandboxError(`plugin "${this.name}": host worker failed: ${e.message}`));
      for (const [, cb] of this.#pending) {
        cb({ type: "error", id: -1, kind: "crashed", message: e.message });
      }
      this.#pending.clear();
    };
    const maxMsg = this.grants.max_message;
    this.#sab = new SharedArrayBuffer(DATA_BYTE + Math.min(maxMsg, 1 << 20), {
      maxByteLength: DATA_BYTE + maxMsg + this.grants.max_output,
    });
    this.#ctrl = new Int32Array(this.#sab, 0, 8);
    const loaded = await Promise.race([
      crashed,
      this.#send({
        type: "load",
        id: ++this.#ids,
        name: this.name,
        module: this.plugin.module,
        sab: this.#sab,
        config: Object.fromEntries(
          Object.entries(this.grants.config).map((
            [k, v],
          ) => [k, typeof v === "string" ? v : JSON.stringify(v)]),
        ),
        maxPages: this.plugin.maxPages,
        maxOutput: this.grants.max_output,
        maxMessage: this.grants.max_message,
      }),
    ]);
    if (loaded.type === "error") {
      this.#worker.terminate();
      throw new PluginViolationError(
        this.name,
        "crashed",
        `could not be instantiated: ${loaded.message}`,
      );
    }
  }

  #send(m: ToWorker, transfer: Transferable[] = []): Promise<FromWorker> {
    return new Promise((resolve) => {
      this.#pending.set(m.id, resolve);
      this.#worker.postMessage(m, transfer);
    });
  }

  /** Call export `fn`; `inputs` become read handles 1…n (their buffers are transferred). */
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

  async #call(
    fn: string,
    input: Uint8Array,
    inputs: ArrayBuffer[],
    o: CallOptions,
  ): Promise<CallResult> {
    if (this.#closed) throw new SandboxError(`plugin "${this.name}": host is closed`);
    o.signal?.throwIfAborted();
    this.#log = o.log;
    const ctrl = this.#ctrl;
    Atomics.store(ctrl, SLOT.STATE, STATE.IDLE);
    Atomics.store(ctrl, SLOT.CANCEL, 0);
    new Float64Array(this.#sab, DEADLINE_BYTE, 1)[0] = Date.now() + o.timeoutMs;
    const id = ++this.#ids;
    let active = true;
    const onAbort = () => Atomics.store(ctrl, SLOT.CANCEL, 1);
    o.signal?.addEventListener("abort", onAbort);
    const serving = this.#serve(o.broker, () => active);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const hardStop = new Promise<FromWorker>((resolve) => {
      timer = setTimeout(() => {
        // The interrupt did not unwind the plugin: replace the worker.
        this.terminations++;
        this.#pending.delete(id);
        this.#worker.terminate();
        resolve({ type: "error", id, kind: "timeout", message: "did not stop; worker terminated" });
        this.#boot().catch(() => (this.#closed = true));
      }, o.timeoutMs + GRACE_MS);
    });
    const inputMsg: ToWorker = { type: "call", id, fn, input, inputs };
    const reply = await Promise.race([this.#send(inputMsg, inputs), hardStop]);
    clearTimeout(timer);
    active = false;
    Atomics.store(ctrl, SLOT.STATE, STATE.DONE);
    Atomics.notify(ctrl, SLOT.STATE);
    await serving;
    o.signal?.removeEventListener("abort", onAbort);
    if (reply.type === "result") return reply;
    if (reply.type !== "error") {
      throw new SandboxError(`plugin "${this.name}": unexpected reply ${reply.type}`);
    }
    if (reply.kind === "cancelled") {
      throw o.signal?.reason ?? new PluginViolationError(this.name, "timeout", "cancelled");
    }
    const denial = o.lastDenial?.();
    if (denial && ["plugin_error", "abort", "trap", "crashed"].includes(reply.kind)) {
      throw new PluginViolationError(this.name, "denied", `${denial} (then: ${reply.message})`);
    }
    const kind: ViolationKind = reply.kind === "abort"
      ? "trap"
      : reply.kind === "timeout"
      ? "timeout"
      : (["memory", "trap", "oversized", "malformed", "denied", "plugin_error"].includes(reply.kind)
        ? reply.kind
        : "crashed") as ViolationKind;
    const detail = kind === "timeout"
      ? `exceeded its timeout of ${o.timeoutMs} ms (${reply.message})`
      : reply.message;
    throw new PluginViolationError(this.name, kind, detail);
  }

  async #serve(broker: BrokerFn, active: () => boolean): Promise<void> {
    const ctrl = this.#ctrl;
    let lastYield = performance.now();
    while (active()) {
      const s = Atomics.load(ctrl, SLOT.STATE);
      if (s === STATE.DONE) return;
      if (s === STATE.REQUEST) {
        await this.#answer(broker, active);
        continue;
      }
      // A plugin making calls in a row must not starve the kernel's event loop.
      if (performance.now() - lastYield > YIELD_EVERY_MS) {
        await yieldToEventLoop();
        lastYield = performance.now();
        continue;
      }
      if (spinWhile(ctrl, s, SPIN_MS)) continue;
      const w = Atomics.waitAsync(ctrl, SLOT.STATE, s, 250);
      if (w.async) await w.value;
      lastYield = performance.now();
    }
  }

  async #answer(broker: BrokerFn, active: () => boolean): Promise<void> {
    const ctrl = this.#ctrl;
    const rl = Atomics.load(ctrl, SLOT.REQ_LEN);
    const pl = Atomics.load(ctrl, SLOT.REQ_PAYLOAD);
    const data = new Uint8Array(this.#sab, DATA_BYTE, rl + pl);
    const req = data.slice(0, rl);
    const payload = pl ? data.subarray(rl, rl + pl) : new Uint8Array(0);
    let res: BrokerResponse;
    try {
      res = await broker(req, payload);
    } catch (err) {
      res = {
        json: {
          ok: false,
          error: { code: "failed", message: String((err as Error)?.message ?? err) },
        },
      };
    }
    if (!active()) return;
    const json = enc.encode(
      JSON.stringify(res.fatal ? { ok: false, fatal: true, ...res.json } : res.json),
    );
    const body = res.payload ?? new Uint8Array(0);
    const need = DATA_BYTE + json.length + body.length;
    if (need > this.#sab.byteLength) {
      if (need > this.#sab.maxByteLength) {
        const msg = {
          ok: false,
          fatal: true,
          error: { code: "oversized", message: "response too large" },
        };
        new Uint8Array(this.#sab, DATA_BYTE).set(enc.encode(JSON.stringify(msg)));
        Atomics.store(ctrl, SLOT.RESP_LEN, JSON.stringify(msg).length);
        Atomics.store(ctrl, SLOT.RESP_PAYLOAD, 0);
        Atomics.store(ctrl, SLOT.STATE, STATE.RESPONSE);
        Atomics.notify(ctrl, SLOT.STATE);
        return;
      }
      this.#sab.grow(need);
    }
    const out = new Uint8Array(this.#sab, DATA_BYTE, json.length + body.length);
    out.set(json, 0);
    out.set(body, json.length);
    Atomics.store(ctrl, SLOT.RESP_LEN, json.length);
    Atomics.store(ctrl, SLOT.RESP_PAYLOAD, body.length);
    Atomics.store(ctrl, SLOT.STATE, STATE.RESPONSE);
    Atomics.notify(ctrl, SLOT.STATE);
  }

  /** Deadline (epoch ms) of the call in progress (calls are serialized). */
  get deadline(): number {
    return new Float64Array(this.#sab, DEADLINE_BYTE, 1)[0];
  }

  /** Stop the worker. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#worker.terminate();
  }
}
