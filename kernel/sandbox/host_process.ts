/**
 * The plugin host process: the entry module of the separate OS process one
 * untrusted plugin instance runs in (started by plugin_process.ts with no
 * `--allow-*` flag except the two env variables Extism reads at load, a
 * memory cgroup or watchdog, a V8 heap cap, and a SIGKILL deadline).
 *
 * Extism runs in-process on this process's main thread, so host functions
 * are synchronous: a brokered call writes a REQUEST frame to stdout with
 * `writeSync` and blocks in `readSync` on stdin for the RESPONSE frame.
 * Handles are raw frame bytes copied straight into and out of guest memory.
 * The frame channel is host_channel.ts (format: protocol.ts), the audited
 * plugin config host_config.ts; this module holds the host functions and the
 * LOAD / CALL lifecycle.
 * @module
 */
import createPlugin from "@extism/extism";
import { FRAME, type LoadMeta, PAYLOAD_OPS } from "./protocol.ts";
import { MemoryGuard } from "./host_memory.ts";
import { arrive, expectInput, type Frame, readFrame, send } from "./host_channel.ts";
import { auditedConfig, flushReads } from "./host_config.ts";
import { capFailure, classify, Stop } from "./host_failures.ts";

// Nothing but frames may reach stdout: console output goes to stderr.
console.log = console.info = console.debug = console.error;

// deno-lint-ignore no-explicit-any
type Plugin = any;
interface Handle {
  buf: ArrayBuffer;
  len: number;
  writable: boolean;
  /** Bytes of `buf` that hold data (less than `len` while an input is still arriving). */
  filled: number;
  /** Streaming a writable handle: bytes sent so far, end of the bytes to send next. */
  sent: number;
  pend: number;
  /** Bytes already sent were rewritten: stream no more; send it all at the end. */
  resend: boolean;
}

const MAX_HANDLES = 4096;
/** A writable handle's new bytes are sent to the kernel once this many are pending. */
const STREAM_CHUNK = 1 << 20;
const enc = new TextEncoder();
const dec = new TextDecoder();
let plugin: Plugin | undefined;
let memory: WebAssembly.Memory | undefined;
let module: WebAssembly.Module | undefined;
let load: LoadMeta | undefined;
let deadline = 0;
let handles = new Map<number, Handle>();
/** Whether the last call's inputs were big (its garbage is collected right after it). */
let bigCall = false;
let nextHandle = 1;
let input: Uint8Array = new Uint8Array(0);
let output: Uint8Array | null = null;
let response: Uint8Array = new Uint8Array(0);
let outBytes = 0;
let stats = { calls: 0, bytesIn: 0, bytesOut: 0 };
/** This process's RSS limit (defence in depth, host_memory.ts). */
const guard = new MemoryGuard();

// ---------- host functions ----------

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

function checkInterrupt(): void {
  const now = Date.now();
  if (now > deadline) throw new Stop("timeout", "deadline passed");
  const over = guard.due(now);
  if (over) throw new Stop("memory", over);
}

/** Send a request (plus payload) to the kernel and block until its answer arrives. */
function roundTrip(req: Uint8Array, payload?: Uint8Array): Frame {
  send(FRAME.REQUEST, req, payload);
  const f = readFrame();
  if (f.type !== FRAME.RESPONSE) throw new Stop("crashed", `unexpected frame ${f.type}`);
  return f;
}

/** `flowyml_call(ptr, len) -> i32`: send a request, return the response length. */
function call(_ctx: unknown, ptr: number, len: number): number {
  stats.calls++;
  arrive();
  checkInterrupt();
  if (len > load!.maxMessage) {
    response = roundTrip(enc.encode(JSON.stringify({ v: 1, op: "__oversized", size: len }))).meta;
    throw new Stop("oversized", `request of ${len} bytes exceeds max_message ${load!.maxMessage}`);
  }
  checkRange(ptr, len);
  const req = guest().slice(ptr, ptr + len);
  let payload: Uint8Array | undefined;
  // Attach the bytes of a handle the request names (the kernel validates the request itself).
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
  checkInterrupt(); // a request that blocked until the deadline (e.g. orchestration.await)
  let json = r.meta;
  if (r.data.length) {
    const h = newHandle(r.data.buffer as ArrayBuffer, r.data.length, false);
    const obj = JSON.parse(dec.decode(json));
    obj.handle = h;
    json = enc.encode(JSON.stringify(obj));
  }
  response = json;
  if (dec.decode(json.subarray(0, 64)).startsWith('{"ok":false,"fatal":true')) {
    const obj = JSON.parse(dec.decode(json));
    throw new Stop(obj.error?.code ?? "malformed", obj.error?.message ?? "protocol violation");
  }
  return json.length;
}

function newHandle(buf: ArrayBuffer, len: number, writable: boolean): number {
  if (handles.size >= MAX_HANDLES) throw new Stop("oversized", `more than ${MAX_HANDLES} handles`);
  const id = nextHandle++;
  handles.set(id, { buf, len, writable, filled: len, sent: 0, pend: 0, resend: false });
  return id;
}

/** Send the pending new bytes of writable handle `id` (streamed while the plugin runs). */
function flush(id: number, hd: Handle): void {
  send(FRAME.HANDLE, { id, off: hd.sent, size: hd.buf.byteLength }, bytesOf(hd, hd.sent, hd.pend));
  hd.sent = hd.pend;
}

function bytesOf(hd: Handle, from: number, to: number): Uint8Array {
  return new Uint8Array(hd.buf, from, to - from);
}

function getHandle(id: number): Handle {
  const h = handles.get(id);
  if (!h) throw new Stop("malformed", `handle ${id} does not exist`);
  return h;
}

function addOutput(bytes: number): void {
  outBytes += bytes;
  if (outBytes > load!.maxOutput) {
    throw new Stop("oversized", `output exceeds max_output of ${load!.maxOutput} bytes`);
  }
}

/** Copy `len` guest bytes at `ptr` into writable handle `h` at `off` (≤ its length). */
function writeAt(h: number, off: number, ptr: number, len: number): number {
  checkInterrupt();
  const hd = getHandle(h);
  if (!hd.writable) throw new Stop("malformed", `handle ${h} is read-only`);
  if (!(off >= 0 && off <= hd.len) || len < 0) {
    throw new Stop("malformed", `write at ${off}+${len} is outside handle ${h} (${hd.len} bytes)`);
  }
  const end = off + len;
  if (end > hd.len) addOutput(end - hd.len);
  checkRange(ptr, len);
  if (end > hd.buf.byteLength) {
    const grown = new ArrayBuffer(Math.min(Math.max(hd.buf.byteLength * 2, end), load!.maxOutput));
    new Uint8Array(grown).set(new Uint8Array(hd.buf, 0, hd.len));
    hd.buf = grown;
  }
  new Uint8Array(hd.buf, off, len).set(new Uint8Array(memory!.buffer, ptr, len));
  if (end > hd.len) hd.len = end;
  hd.filled = hd.len;
  stats.bytesOut += len;
  if (hd.resend) return len;
  if (off < hd.sent) hd.resend = true;
  else if (off <= hd.pend) {
    hd.pend = Math.max(hd.pend, end);
    if (hd.pend - hd.sent >= STREAM_CHUNK) flush(h, hd);
  }
  return len;
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
    checkInterrupt();
    const hd = getHandle(h);
    const off = Number(offset);
    const n = Math.max(0, Math.min(len, hd.len - off));
    checkRange(ptr, n);
    if (hd.filled < off + n) arrive(hd, off + n);
    guest().set(new Uint8Array(hd.buf, off, n), ptr);
    stats.bytesIn += n;
    return n;
  },
  flowyml_create(_ctx: unknown, sizeHint: bigint): number {
    checkInterrupt();
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
    checkInterrupt();
    // Every buffer here is this process's own copy, so it can become an output in place.
    const hd = getHandle(h);
    if (hd.writable) return h;
    addOutput(hd.len);
    arrive(hd, hd.len); // all of it is here before the plugin writes over it
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
  if (ptr < 4 || ptr > g.length) return "";
  const len = new DataView(g.buffer).getUint32(ptr - 4, true);
  if (ptr + len > g.length) return "";
  return String.fromCharCode(...new Uint16Array(g.buffer.slice(ptr, ptr + Math.min(len, 2048))));
}

const logTo = (level: string) => (m: string) =>
  send(FRAME.LOG, { level, message: String(m).slice(0, 16_384) });

/**
 * Extism's `alloc`, after a memory check: its blocks are ArrayBuffers outside
 * the V8 heap cap.
 */
function guardedAlloc(ctx: { alloc(n: bigint): bigint }, n: bigint): bigint {
  const over = guard.alloc(Number(n));
  if (over) throw new Stop("memory", over);
  return ctx.alloc(n);
}

/** Extism's error log: its memory refusals stop the call (the plugin would go on hoarding). */
function extismError(m: string): void {
  if (/^(var )?memory limit exceeded/.test(String(m))) {
    throw new Stop("memory", `Extism refused: ${String(m).slice(0, 200)}`);
  }
  logTo("error")(m);
}

async function instantiate(): Promise<void> {
  const l = load!;
  plugin = await createPlugin({ wasm: [{ module: module! }], config: auditedConfig(l.config) }, {
    useWasi: false,
    runInWorker: false,
    allowedHosts: [],
    // Extism's own var bytes are capped (at least 1: 0 would mean no cap); its alloc blocks are
    // not (a refused block is kept), so alloc below checks this process's memory first.
    memory: { maxPages: l.maxPages, maxVarBytes: Math.max(1, l.maxVarBytes ?? 0) || undefined },
    logger: {
      ...console,
      info: logTo("info"),
      warn: logTo("warn"),
      error: extismError,
      debug: logTo("debug"),
      trace: () => {},
      // deno-lint-ignore no-explicit-any
    } as any,
    functions: {
      "extism:host/user": userFns,
      "extism:host/env": {
        alloc: guardedAlloc,
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

async function onLoad(f: Frame): Promise<void> {
  try {
    load = JSON.parse(dec.decode(f.meta)) as LoadMeta;
    guard.set(load.maxRss ?? 0);
    module = new WebAssembly.Module(f.data as BufferSource);
    await instantiate();
    send(FRAME.LOADED, { exports: WebAssembly.Module.exports(module).map((e) => e.name) });
  } catch (err) {
    send(FRAME.ERROR, classify(err));
  }
}

async function onCall(f: Frame): Promise<void> {
  const meta = JSON.parse(dec.decode(f.meta)) as {
    fn: string;
    deadline: number;
    inputs: number[];
    maxRss?: number;
  };
  guard.set(meta.maxRss ?? guard.limit);
  handles = new Map();
  nextHandle = 1;
  output = null;
  outBytes = 0;
  response = new Uint8Array(0);
  stats = { calls: 0, bytesIn: 0, bytesOut: 0 };
  deadline = meta.deadline;
  input = f.data;
  bigCall = meta.inputs.reduce((n, b) => n + b, 0) > 4 << 20;
  // Inputs become read handles now; their bytes arrive while the plugin reads them.
  for (const size of meta.inputs) {
    const id = newHandle(new ArrayBuffer(size), size, false);
    const hd = handles.get(id)!;
    hd.filled = 0;
    expectInput(hd);
  }
  let failed: { kind: string; message: string } | undefined;
  let extismOut: Uint8Array | null = null;
  try {
    if (!plugin) await instantiate();
    const out = await plugin.call(meta.fn, input);
    if (out && output === null) extismOut = out.bytes().slice();
  } catch (err) {
    failed = capFailure(classify(err), load!.maxPages, memory);
  }
  arrive(); // what the plugin did not read
  if (failed) {
    // The instance may be corrupt after a trap or an interrupt: re-create it (< 1 ms).
    handles = new Map();
    plugin = undefined;
    try {
      await instantiate();
    } catch {
      // reported at the next call
    }
    flushReads();
    send(FRAME.ERROR, failed);
    return;
  }
  for (const [id, h] of handles) {
    if (!h.writable) continue;
    if (h.resend) h.sent = 0;
    send(FRAME.HANDLE, { id, off: h.sent, size: h.len }, bytesOf(h, h.sent, h.len));
  }
  handles = new Map();
  const result = output ?? extismOut;
  flushReads();
  send(FRAME.RESULT, { stats, hasOutput: result !== null }, result ?? undefined);
}

/**
 * Drop the call's buffers and collect them now (`--expose-gc`), so the next
 * call's inputs do not meet this one's garbage under the memory limit.
 */
function release(): void {
  handles = new Map();
  input = new Uint8Array(0);
  output = null;
  response = new Uint8Array(0);
  (globalThis as { gc?: () => void }).gc?.();
}

async function main(): Promise<void> {
  send(FRAME.READY, {});
  for (;;) {
    const f = readFrame();
    if (f.type === FRAME.LOAD) await onLoad(f);
    else if (f.type === FRAME.CALL) {
      await onCall(f); // no reference to the inputs stays here
      if (bigCall || outBytes > 4 << 20) release();
    } else throw new Error(`unexpected frame type ${f.type}`);
  }
}

await main();
