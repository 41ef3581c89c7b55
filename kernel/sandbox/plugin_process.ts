/**
 * The kernel's handle on one plugin host process: spawn (`deno run` of
 * host_process.ts with no `--allow-*` flag but Extism's two env variables),
 * OS limits (limits.ts: memory cgroup or watchdog, pids, V8 heap cap),
 * length-prefixed frames on its stdin/stdout, and SIGKILL.
 *
 * Only frames are read from stdout, and only while a load or a call is in
 * progress; stderr is read after the process is gone (the host process
 * writes at most a few KiB there, so it never blocks on it).
 * @module
 */
import { fileURLToPath } from "node:url";
import { FRAME, FRAME_HEADER, frameHead } from "./protocol.ts";
import { Confinement, limitMode } from "./limits.ts";

/** flowyml's own folder (deno.json, node_modules and the host module live under it). */
export const FLOWYML_ROOT = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");
/** Env variables `@extism/extism` reads when it loads: the host process's only permission. */
export const EXTISM_ENV = ["EXTISM_ENABLE_WASI_OUTPUT", "__MINIMATCH_TESTING_PLATFORM__"] as const;
/**
 * Fixed memory of a host process that its cgroup counts beyond the plugin's
 * grant: the runtime's own growth after it moved into the group (measured
 * ~20 MiB: Extism, a compiled module, JIT code; what Deno mapped before the
 * move stays charged to the parent group) plus head room. The memory limit is
 * this plus `grants.memory` plus the bytes of the call's inputs.
 */
export const RUNTIME_OVERHEAD = 64 * 1024 ** 2;
/**
 * The same for the watchdog, which sees the whole RSS of the process
 * (measured ~58–75 MiB for an idle host process with a small plugin).
 */
export const WATCHDOG_OVERHEAD = 112 * 1024 ** 2;

/** The fixed overhead for the limit mode in use. */
export function runtimeOverhead(): number {
  return limitMode() === "watchdog" ? WATCHDOG_OVERHEAD : RUNTIME_OVERHEAD;
}
/** V8 old-space of the host process beyond the plugin's grant, MiB (`--max-old-space-size`). */
export const HEAP_BASE_MIB = 48;
const STDERR_KEEP = 8192;

/** A frame read from the plugin process. */
export interface Frame {
  type: number;
  meta: Uint8Array;
  data: Uint8Array;
}

/** Why the kernel killed the process (undefined: it died on its own, or was OOM-killed). */
export type KillReason = "timeout" | "cancelled" | "closed" | "protocol" | "memory";

/** The `deno run` arguments of a host process with V8 old space `heapMiB`. */
export function hostProcessArgs(heapMiB: number): string[] {
  return [
    "run",
    "--quiet",
    "--no-prompt",
    "--no-remote",
    "--cached-only",
    "--no-check",
    `--config=${FLOWYML_ROOT}/deno.json`,
    `--allow-env=${EXTISM_ENV.join(",")}`,
    `--v8-flags=--max-old-space-size=${heapMiB},--expose-gc`,
    `${FLOWYML_ROOT}/kernel/sandbox/host_process.ts`,
  ];
}

/** One plugin host process. */
export class PluginProcess {
  /** OS process id. */
  readonly pid: number;
  /** V8 old-space cap it was started with, MiB. */
  readonly heapMiB: number;
  /** Its memory limit and how it is enforced. */
  readonly confinement: Confinement;
  /** Set once the kernel killed it, with why. */
  killedFor?: KillReason;
  /** Set on exit: whether the OS (cgroup OOM killer) or the watchdog stopped it for memory. */
  memoryKilled = false;
  /** Resolves when the process has exited (its groups are then removed). */
  readonly exited: Promise<Deno.CommandStatus>;
  #child: Deno.ChildProcess;
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #buf: Uint8Array = new Uint8Array(0);
  #stderr?: Promise<string>;
  #gone = false;

  /** Spawn a host process; it is put under `memoryBytes` before it can be sent anything. */
  constructor(heapMiB: number, memoryBytes: number) {
    this.heapMiB = heapMiB;
    this.#child = new Deno.Command(Deno.execPath(), {
      args: hostProcessArgs(heapMiB),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.pid = this.#child.pid;
    // An idle host process (spare, or between calls) must not keep the kernel alive.
    this.#child.unref();
    try {
      this.confinement = Confinement.attach(this.pid, memoryBytes, () => this.kill("memory"));
    } catch (err) {
      this.#child.kill("SIGKILL");
      throw err;
    }
    this.#reader = this.#child.stdout.getReader();
    this.#writer = this.#child.stdin.getWriter();
    this.#writer.closed.catch(() => {});
    this.exited = this.#child.status.then((s) => {
      this.#gone = true;
      this.memoryKilled = this.confinement.memoryKilled();
      this.confinement.release();
      return s;
    });
  }

  #holds = 0;

  /**
   * Run `fn` with the process keeping the kernel alive (an idle host process
   * does not: its pipes and status are unref'd between loads and calls).
   */
  async hold<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#holds++ === 0) this.#child.ref();
    try {
      return await fn();
    } finally {
      if (--this.#holds === 0) this.#child.unref();
    }
  }

  /** Whether the process has exited (or was killed). */
  get alive(): boolean {
    return !this.#gone && this.killedFor === undefined;
  }

  /** SIGKILL the process (the only stop that always works) and say why. */
  kill(reason: KillReason): void {
    this.killedFor ??= reason;
    if (this.#gone) return;
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }

  /** Send a frame: header and meta in one write, data uncopied in a second. */
  async send(type: number, meta: unknown, data?: Uint8Array): Promise<void> {
    const m = meta instanceof Uint8Array ? meta : new TextEncoder().encode(JSON.stringify(meta));
    await this.#writer.write(frameHead(type, m, data?.length ?? 0));
    if (data?.length) await this.#writer.write(data);
  }

  async #fill(): Promise<boolean> {
    const r = await this.#reader.read();
    if (r.done) return false;
    if (!this.#buf.length) this.#buf = r.value;
    else {
      const b = new Uint8Array(this.#buf.length + r.value.length);
      b.set(this.#buf);
      b.set(r.value, this.#buf.length);
      this.#buf = b;
    }
    return true;
  }

  /** `n` bytes from the stream into a buffer of their own; undefined at end of stream. */
  async #take(n: number): Promise<Uint8Array | undefined> {
    if (this.#buf.length >= n) {
      const out = this.#buf.slice(0, n);
      this.#buf = this.#buf.subarray(n);
      return out;
    }
    // Large: fill an exact buffer chunk by chunk (no growing concatenation).
    const out = new Uint8Array(n);
    let o = this.#buf.length;
    out.set(this.#buf);
    this.#buf = new Uint8Array(0);
    while (o < n) {
      const r = await this.#reader.read();
      if (r.done) return undefined;
      const k = Math.min(r.value.length, n - o);
      out.set(r.value.subarray(0, k), o);
      o += k;
      if (k < r.value.length) this.#buf = r.value.subarray(k);
    }
    return out;
  }

  /**
   * The next frame, or undefined when the process is gone. `maxData(type)`
   * bounds what the kernel accepts per frame type; a larger frame kills the process.
   */
  async next(maxMeta: number, maxData: (type: number) => number): Promise<Frame | undefined> {
    while (this.#buf.length < FRAME_HEADER) if (!(await this.#fill())) return undefined;
    const v = new DataView(this.#buf.buffer, this.#buf.byteOffset, FRAME_HEADER);
    const metaLen = v.getUint32(0, true);
    const dataLen = v.getUint32(4, true);
    const type = this.#buf[8];
    if (metaLen > maxMeta || dataLen > maxData(type)) {
      this.kill("protocol");
      throw new Error(
        `frame type ${type} of ${metaLen}+${dataLen} bytes is over the limit ${maxMeta}+${
          maxData(type)
        }`,
      );
    }
    this.#buf = this.#buf.subarray(FRAME_HEADER);
    const meta = await this.#take(metaLen);
    const data = meta && await this.#take(dataLen);
    if (!meta || !data) return undefined;
    return { type, meta, data };
  }

  /** Wait for the READY frame (Extism loaded); false if the process died first. */
  async ready(): Promise<boolean> {
    const f = await this.next(1024, () => 0).catch(() => undefined);
    return f?.type === FRAME.READY;
  }

  /** The last few KiB the process wrote to stderr (read once it is gone). */
  stderrTail(): Promise<string> {
    this.#stderr ??= (async () => {
      let tail = "";
      const dec = new TextDecoder();
      try {
        for await (const chunk of this.#child.stderr) {
          tail = (tail + dec.decode(chunk, { stream: true })).slice(-STDERR_KEEP);
        }
      } catch {
        // closed
      }
      return tail;
    })();
    return this.#stderr;
  }

  /** Kill it and wait until it has exited and its groups are removed. */
  async close(): Promise<void> {
    this.kill("closed");
    await this.hold(async () => {
      await this.#writer.close().catch(() => {});
      await this.#reader.cancel().catch(() => {});
      await this.exited.catch(() => {});
      await this.stderrTail();
    });
  }
}
