/**
 * The plugin host worker. It runs Extism in-process inside a Deno Worker
 * started with narrowed permissions (no read, write, net, run, ffi, sys or
 * import), so a plugin never runs on the kernel's thread. Brokered calls go
 * to the kernel through a SharedArrayBuffer channel; bulk bytes are copied
 * straight between handle buffers and guest memory.
 * @module
 */
/// <reference lib="deno.worker" />
import createPlugin from "@extism/extism";
import {
  DATA_BYTE,
  DEADLINE_BYTE,
  type FromWorker,
  PAYLOAD_OPS,
  SLOT,
  STATE,
  type ToWorker,
} from "./protocol.ts";

// deno-lint-ignore no-explicit-any
type Plugin = any;
interface Handle {
  buf: ArrayBuffer;
  len: number;
  writable: boolean;
}

const MAX_HANDLES = 4096;
let plugin: Plugin | undefined;
let memory: WebAssembly.Memory | undefined;
let load: Extract<ToWorker, { type: "load" }> | undefined;
let ctrl: Int32Array;
let dead: Float64Array;
let handles = new Map<number, Handle>();
let nextHandle = 1;
let input: Uint8Array = new Uint8Array(0);
let output: Uint8Array | null = null;
let response: Uint8Array = new Uint8Array(0);
let outBytes = 0;
let stats = { calls: 0, bytesIn: 0, bytesOut: 0 };

const post = (m: FromWorker, transfer: Transferable[] = []) => self.postMessage(m, transfer);

/** A violation that ends the call; `kind` tells the kernel which. */
class Stop extends Error {
  constructor(readonly kind: string, message: string) {
    super(message);
  }
}

function guest(): Uint8Array {
  if (!memory) throw new Stop("crashed", "plugin has no exported memory");
  return new Uint8Array(memory.buffer);
}

function checkRange(ptr: number, len: number): void {
  const g = guest();
  if (ptr < 0 || len < 0 || ptr + len > g.length) {
    throw new Stop("malformed", `pointer range ${ptr}+${len} is outside the plugin's memory`);
  }
}

function sab(): SharedArrayBuffer {
  return load!.sab;
}

function ensureSab(bytes: number): void {
  const s = sab();
  if (DATA_BYTE + bytes > s.byteLength) {
    if (DATA_BYTE + bytes > s.maxByteLength) {
      throw new Stop("oversized", `message of ${bytes} bytes exceeds the channel limit`);
    }
    s.grow(DATA_BYTE + bytes);
  }
}

const SPIN_MIN_MS = 0.002;
const SPIN_MAX_MS = 0.1;
const PROBE_EVERY = 32;
let spinMs = SPIN_MAX_MS;
let misses = 0;

/** Send raw request bytes (plus payload) to the kernel and wait for its answer. */
function roundTrip(
  req: Uint8Array,
  payload?: Uint8Array,
): { json: Uint8Array; payload: Uint8Array } {
  ensureSab(req.length + (payload?.length ?? 0));
  const data = new Uint8Array(sab(), DATA_BYTE);
  data.set(req, 0);
  if (payload) data.set(payload, req.length);
  Atomics.store(ctrl, SLOT.REQ_LEN, req.length);
  Atomics.store(ctrl, SLOT.REQ_PAYLOAD, payload?.length ?? 0);
  Atomics.store(ctrl, SLOT.STATE, STATE.REQUEST);
  Atomics.notify(ctrl, SLOT.STATE);
  // Spin briefly (the kernel usually answers within microseconds), then sleep.
  // The spin adapts: when answers stop arriving within it (the kernel thread is
  // waiting for a core on a loaded machine), spinning only steals that core.
  const t0 = performance.now();
  let slept = false;
  while (Atomics.load(ctrl, SLOT.STATE) === STATE.REQUEST) {
    if (performance.now() - t0 > spinMs) {
      slept = true;
      Atomics.wait(ctrl, SLOT.STATE, STATE.REQUEST, 50);
    }
    checkInterrupt();
  }
  // Hot while answers arrive within the spin; after a miss, spin minimally but
  // probe with a full spin every PROBE_EVERY round trips to notice the load is gone.
  spinMs = !slept || ++misses % PROBE_EVERY === 0 ? SPIN_MAX_MS : SPIN_MIN_MS;
  const rl = Atomics.load(ctrl, SLOT.RESP_LEN);
  const pl = Atomics.load(ctrl, SLOT.RESP_PAYLOAD);
  const all = new Uint8Array(sab(), DATA_BYTE, rl + pl);
  const out = { json: all.slice(0, rl), payload: pl ? all.slice(rl) : new Uint8Array(0) };
  Atomics.store(ctrl, SLOT.STATE, STATE.IDLE);
  Atomics.notify(ctrl, SLOT.STATE); // the kernel may be in a short blocking wait
  return out;
}

function checkInterrupt(): void {
  if (Atomics.load(ctrl, SLOT.CANCEL)) throw new Stop("cancelled", "call cancelled by the kernel");
  if (Date.now() > dead[0]) throw new Stop("timeout", "deadline passed");
}

const dec = new TextDecoder();
const enc = new TextEncoder();

/** `flowyml_call(ptr, len) -> i32`: send a request, return the response length. */
function call(_ctx: unknown, ptr: number, len: number): number {
  stats.calls++;
  if (len > load!.maxMessage) {
    const r = roundTrip(enc.encode(JSON.stringify({ v: 1, op: "__oversized", size: len })));
    response = r.json;
    throw new Stop("oversized", `request of ${len} bytes exceeds max_message ${load!.maxMessage}`);
  }
  checkRange(ptr, len);
  const req = guest().slice(ptr, ptr + len);
  let payload: Uint8Array | undefined;
  // Attach the bytes of a handle the request names (trusted-side convenience;
  // the kernel validates the request itself).
  try {
    const peek = JSON.parse(dec.decode(req));
    if (peek && PAYLOAD_OPS.has(peek.op) && typeof peek.handle === "number") {
      const h = handles.get(peek.handle);
      if (h) payload = new Uint8Array(h.buf, 0, h.len);
    }
  } catch {
    // malformed: the kernel refuses it
  }
  const r = roundTrip(req, payload);
  let json = r.json;
  if (r.payload.length) {
    const h = newHandle(r.payload.buffer as ArrayBuffer, r.payload.length, false);
    const obj = JSON.parse(dec.decode(json));
    obj.handle = h;
    json = enc.encode(JSON.stringify(obj));
  }
  response = json;
  const head = dec.decode(json.subarray(0, 64));
  if (head.startsWith('{"ok":false,"fatal":true')) {
    const obj = JSON.parse(dec.decode(json));
    throw new Stop(obj.error?.code ?? "malformed", obj.error?.message ?? "protocol violation");
  }
  return json.length;
}

function newHandle(buf: ArrayBuffer, len: number, writable: boolean): number {
  if (handles.size >= MAX_HANDLES) throw new Stop("oversized", `more than ${MAX_HANDLES} handles`);
  const id = nextHandle++;
  handles.set(id, { buf, len, writable });
  return id;
}

function addOutput(bytes: number): void {
  outBytes += bytes;
  if (outBytes > load!.maxOutput) {
    throw new Stop("oversized", `output exceeds max_output of ${load!.maxOutput} bytes`);
  }
}

/** Copy `len` guest bytes at `ptr` into writable handle `h` at `off` (≤ its length). */
function writeAt(h: number, off: number, ptr: number, len: number): number {
  const hd = getHandle(h);
  if (!hd.writable) throw new Stop("malformed", `handle ${h} is read-only`);
  if (!(off >= 0 && off <= hd.len) || len < 0) {
    throw new Stop("malformed", `write at ${off}+${len} is outside handle ${h} (${hd.len} bytes)`);
  }
  const end = off + len;
  if (end > hd.len) addOutput(end - hd.len);
  checkRange(ptr, len);
  if (end > hd.buf.byteLength) {
    const grown = new ArrayBuffer(
      Math.min(Math.max(hd.buf.byteLength * 2, end), load!.maxOutput),
    );
    new Uint8Array(grown).set(new Uint8Array(hd.buf, 0, hd.len));
    hd.buf = grown;
  }
  new Uint8Array(hd.buf, off, len).set(new Uint8Array(memory!.buffer, ptr, len));
  if (end > hd.len) hd.len = end;
  stats.bytesOut += len;
  return len;
}

function getHandle(id: number): Handle {
  const h = handles.get(id);
  if (!h) throw new Stop("malformed", `handle ${id} does not exist`);
  return h;
}

const userFns = {
  flowyml_call: call,
  flowyml_response(_ctx: unknown, ptr: number): void {
    checkRange(ptr, response.length);
    guest().set(response, ptr);
  },
  flowyml_input_length: () => input.length,
  flowyml_input(_ctx: unknown, ptr: number): void {
    checkRange(ptr, input.length);
    guest().set(input, ptr);
  },
  flowyml_output(_ctx: unknown, ptr: number, len: number): void {
    if (len > load!.maxMessage) {
      throw new Stop(
        "oversized",
        `output message of ${len} bytes exceeds max_message ${load!.maxMessage}`,
      );
    }
    checkRange(ptr, len);
    output = guest().slice(ptr, ptr + len);
  },
  flowyml_size: (_ctx: unknown, h: number) => BigInt(getHandle(h).len),
  flowyml_read(_ctx: unknown, h: number, offset: bigint, ptr: number, len: number): number {
    const hd = getHandle(h);
    const off = Number(offset);
    const n = Math.max(0, Math.min(len, hd.len - off));
    checkRange(ptr, n);
    guest().set(new Uint8Array(hd.buf, off, n), ptr);
    stats.bytesIn += n;
    return n;
  },
  flowyml_create(_ctx: unknown, sizeHint: bigint): number {
    const hint = Math.min(Number(sizeHint), load!.maxOutput);
    return newHandle(new ArrayBuffer(Math.max(hint, 0)), 0, true);
  },
  flowyml_write(_ctx: unknown, h: number, ptr: number, len: number): number {
    return writeAt(h, getHandle(h).len, ptr, len);
  },
  flowyml_write_at(_ctx: unknown, h: number, offset: bigint, ptr: number, len: number): number {
    return writeAt(h, Number(offset), ptr, len);
  },
  flowyml_take(_ctx: unknown, h: number): number {
    // The buffer is this worker's own copy (transferred input or a response),
    // so it can become an output in place; its bytes count as produced output.
    const hd = getHandle(h);
    if (hd.writable) return h;
    addOutput(hd.len);
    hd.writable = true;
    return h;
  },
  flowyml_interrupt_check(): void {
    checkInterrupt();
  },
};

function readAsString(ptr: number): string {
  if (!ptr || !memory) return "";
  const g = guest();
  const len = new DataView(g.buffer).getUint32(ptr - 4, true);
  if (ptr + len > g.length) return "";
  return String.fromCharCode(...new Uint16Array(g.buffer.slice(ptr, ptr + Math.min(len, 2048))));
}

async function instantiate(): Promise<void> {
  const l = load!;
  plugin = await createPlugin({ wasm: [{ module: l.module }], config: l.config }, {
    useWasi: false,
    runInWorker: false,
    allowedHosts: [],
    memory: { maxPages: l.maxPages },
    logger: {
      ...console,
      info: (m: string) => post({ type: "log", level: "info", message: String(m) }),
      warn: (m: string) => post({ type: "log", level: "warn", message: String(m) }),
      error: (m: string) => post({ type: "log", level: "error", message: String(m) }),
      debug: (m: string) => post({ type: "log", level: "debug", message: String(m) }),
      trace: () => {},
      // deno-lint-ignore no-explicit-any
    } as any,
    functions: {
      "extism:host/user": userFns,
      "extism:host/env": {
        // Plugin HTTP goes through the broker (grants, secrets, audit), never straight out.
        http_request: () => {
          throw new Stop(
            "denied",
            "extism http_request is not available: use the SDK's http.fetch",
          );
        },
      },
      env: {
        abort: (_c: unknown, msg: number, file: number, line: number, col: number) => {
          throw new Stop(
            "abort",
            `abort: ${readAsString(msg)} at ${readAsString(file)}:${line}:${col}`,
          );
        },
      },
    },
  });
  const inst = await plugin.getInstance();
  memory = inst.exports.memory instanceof WebAssembly.Memory ? inst.exports.memory : undefined;
}

function classify(err: unknown): { kind: string; message: string } {
  if (err instanceof Stop) return { kind: err.kind, message: err.message };
  const message = err instanceof Error
    ? err.message
    : String((err as { message?: string })?.message ?? err);
  if (/Maximum call stack/i.test(message)) {
    return { kind: "trap", message: `stack overflow: ${message}` };
  }
  if (err instanceof WebAssembly.RuntimeError) return { kind: "trap", message };
  if (/Plugin-originated error/.test(message)) return { kind: "plugin_error", message };
  if (/memory|allocation failed|Out of memory/i.test(message)) return { kind: "memory", message };
  return { kind: "crashed", message };
}

function resetCall(): void {
  handles = new Map();
  nextHandle = 1;
  output = null;
  outBytes = 0;
  response = new Uint8Array(0) as Uint8Array;
  stats = { calls: 0, bytesIn: 0, bytesOut: 0 };
}

self.onmessage = async (ev: MessageEvent<ToWorker>) => {
  const m = ev.data;
  if (m.type === "load") {
    try {
      load = m;
      ctrl = new Int32Array(m.sab, 0, 8);
      dead = new Float64Array(m.sab, DEADLINE_BYTE, 1);
      await instantiate();
      post({
        type: "loaded",
        id: m.id,
        exports: WebAssembly.Module.exports(m.module).map((e) => e.name),
      });
    } catch (err) {
      post({ type: "error", id: m.id, ...classify(err) });
    }
    return;
  }
  if (m.type === "unload") {
    plugin = undefined;
    memory = undefined;
    load = undefined;
    return;
  }
  // call
  resetCall();
  input = m.input;
  m.inputs.forEach((b) => newHandle(b, b.byteLength, false));
  let failed: { kind: string; message: string } | undefined;
  let extismOut: Uint8Array | null = null;
  try {
    if (!plugin) await instantiate();
    const out = await plugin.call(m.fn, input);
    if (out && output === null) extismOut = out.bytes().slice();
  } catch (err) {
    failed = classify(err);
    const cap = load!.maxPages * 65536;
    if (
      failed.kind !== "timeout" && memory &&
      memory.buffer.byteLength >= cap - Math.max(1 << 20, cap / 16)
    ) {
      // Memory is (nearly) at its cap, so the failure is the cap being hit.
      failed = {
        kind: "memory",
        message: `linear memory reached its cap of ${cap / 2 ** 20} MiB (${failed.message})`,
      };
    }
  }
  Atomics.store(ctrl, SLOT.STATE, STATE.DONE);
  Atomics.notify(ctrl, SLOT.STATE);
  if (failed) {
    // The instance may be corrupt after a trap or an interrupt: re-create it (< 1 ms).
    handles = new Map();
    plugin = undefined;
    try {
      await instantiate();
    } catch {
      // reported at the next call
    }
    post({ type: "error", id: m.id, ...failed });
    return;
  }
  const out: Record<number, ArrayBuffer> = {};
  const transfer: ArrayBuffer[] = [];
  for (const [id, h] of handles) {
    if (!h.writable) continue;
    const b = h.len === h.buf.byteLength ? h.buf : h.buf.slice(0, h.len);
    out[id] = b;
    transfer.push(b);
  }
  const result = output ?? extismOut;
  handles = new Map();
  post({ type: "result", id: m.id, output: result, handles: out, stats }, transfer);
};

post({ type: "ready" });
