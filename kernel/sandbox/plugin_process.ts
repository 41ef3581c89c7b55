/**
 * The kernel's handle on one plugin host process: spawn (`deno run` of
 * host_process.ts with no `--allow-*` flag but Extism's two env variables),
 * OS limits (limits.ts: memory cgroup, directly or through the parent's
 * limits supervisor, or watchdog; pids; V8 heap cap),
 * length-prefixed frames on its stdin/stdout, and SIGKILL.
 *
 * Only frames are read from stdout, and only while a load or a call is in
 * progress; stderr is read after the process is gone (the host process
 * writes at most a few KiB there, so it never blocks on it).
 * @module
 */
import { fileURLToPath } from "../_path.ts";
import { MissingPermissionError } from "../errors.ts";
import { isPermissionError } from "../permissions.ts";
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
/** Read-ahead buffer for headers and small frames (bulk data bypasses it). */
const SCRATCH = 256 * 1024;
/** Frames up to this much data are written with a single write. */
export const SMALL_FRAME = 64 * 1024;
/** Pipe buffer asked for (F_SETPIPE_SZ), capped by /proc/sys/fs/pipe-max-size. */
export const PIPE_BYTES = 1024 * 1024;

/** A frame read from the plugin process. */
export interface Frame {
  type: number;
  meta: Uint8Array;
  data: Uint8Array;
}

/**
 * Where the data of a frame goes, decided from its type, meta and size:
 * `into` at byte `at` (read straight there), or undefined for a buffer of its
 * own. May throw to refuse the frame.
 */
export type Place = (
  type: number,
  meta: Uint8Array,
  dataLen: number,
) => { into: ArrayBuffer; at: number } | undefined;

/** Why the kernel killed the process (undefined: it died on its own, or was OOM-killed). */
export type KillReason = "timeout" | "cancelled" | "closed" | "protocol" | "memory";

/**
 * `deno run` arguments of a flowyml sandbox process running `entry` (a file
 * under kernel/sandbox/): no prompt, no remote or uncached module, no type
 * check, flowyml's own config, and no permission but the env reads in `env`.
 */
export function sandboxRunArgs(
  entry: string,
  options: { v8Flags: string; env?: readonly string[] },
): string[] {
  return [
    "run",
    "--quiet",
    "--no-prompt",
    "--no-remote",
    "--cached-only",
    "--no-check",
    `--config=${FLOWYML_ROOT}/deno.json`,
    ...(options.env?.length ? [`--allow-env=${options.env.join(",")}`] : []),
    `--v8-flags=${options.v8Flags}`,
    `${FLOWYML_ROOT}/kernel/sandbox/${entry}`,
  ];
}

/** The `deno run` arguments of a host process with V8 old space `heapMiB`. */
export function hostProcessArgs(heapMiB: number): string[] {
  return sandboxRunArgs("host_process.ts", {
    env: EXTISM_ENV,
    v8Flags: `--max-old-space-size=${heapMiB},--expose-gc,--no-wasm-dynamic-tiering`,
  });
}

let fcntl: ((fd: number, cmd: number, arg: number) => number) | null | undefined;
const F_SETPIPE_SZ = 1031;

/**
 * Raise the buffers of a new host process's stdin and stdout pipes from
 * 64 KiB to {@linkcode PIPE_BYTES}: 16× fewer wake-ups per byte in both
 * processes. Deno has no API for it, so this calls `fcntl` through FFI, and
 * only when the kernel already holds `--allow-ffi` and `--allow-read` (it
 * never prompts); otherwise, or off glibc Linux, the pipes keep 64 KiB.
 * The kernel's ends are found by matching `/proc/self/fd` links against the
 * child's fds 0 and 1.
 */
function growPipes(pid: number): void {
  if (fcntl === undefined) {
    fcntl = null;
    try {
      const granted = (name: "ffi" | "read") =>
        Deno.permissions.querySync({ name }).state === "granted";
      if (Deno.build.os === "linux" && granted("ffi") && granted("read")) {
        const lib = Deno.dlopen("libc.so.6", {
          fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
        });
        fcntl = lib.symbols.fcntl;
      }
    } catch {
      // no libc.so.6 (musl), or FFI refused: keep the default pipes
    }
  }
  if (!fcntl) return;
  try {
    const max = Number(Deno.readTextFileSync("/proc/sys/fs/pipe-max-size"));
    const size = Math.min(PIPE_BYTES, max || PIPE_BYTES);
    const want = new Set([0, 1].map((fd) => Deno.readLinkSync(`/proc/${pid}/fd/${fd}`)));
    for (const e of Deno.readDirSync("/proc/self/fd")) {
      try {
        if (want.has(Deno.readLinkSync(`/proc/self/fd/${e.name}`))) {
          fcntl(Number(e.name), F_SETPIPE_SZ, size); // fails harmlessly over a user's pipe quota
        }
      } catch {
        // an fd that closed meanwhile
      }
    }
  } catch {
    // /proc unreadable: keep the default pipes
  }
}

/** One plugin host process. */
export class PluginProcess {
  /** OS process id. */
  readonly pid: number;
  /** V8 old-space cap it was started with, MiB. */
  readonly heapMiB: number;
  /** Its memory limit and how it is enforced (set once {@linkcode ready} resolved). */
  get confinement(): Confinement {
    if (!this.#conf) throw new Error(`plugin process ${this.pid} is not confined (yet)`);
    return this.#conf;
  }
  /** Why the process could not be confined (it was killed), if it could not. */
  startError?: Error;
  /** Set once the kernel killed it, with why. */
  killedFor?: KillReason;
  /** Set on exit: whether the OS (cgroup OOM killer) or the watchdog stopped it for memory. */
  memoryKilled = false;
  /** Resolves when the process has exited (its groups are then removed). */
  readonly exited: Promise<Deno.CommandStatus>;
  #child: Deno.ChildProcess;
  #reader: ReadableStreamBYOBReader;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  /** Read-ahead of small frames: unread bytes are `#scratch[#start, #end)`. */
  #scratch = new ArrayBuffer(SCRATCH);
  #start = 0;
  #end = 0;
  #stderr?: Promise<string>;
  #gone = false;
  #conf?: Confinement;
  #confining: Promise<void>;

  /** Spawn a host process; it is put under `memoryBytes` before it can be sent anything. */
  constructor(heapMiB: number, memoryBytes: number) {
    this.heapMiB = heapMiB;
    this.#child = spawnHost(heapMiB);
    this.pid = this.#child.pid;
    // An idle host process (spare, or between calls) must not keep the kernel alive.
    this.#child.unref();
    // In its groups before it is sent anything (ready() waits for this; a supervised kernel
    // asks the parent's limits supervisor).
    this.#confining = Confinement.confine(this.pid, memoryBytes, () => this.kill("memory")).then(
      (c) => {
        this.#conf = c;
      },
      (err) => {
        this.startError = err;
        this.kill("closed");
      },
    );
    growPipes(this.pid);
    // BYOB: bulk frame data is read straight into its destination buffer, with no
    // intermediate chunks to copy and collect.
    this.#reader = this.#child.stdout.getReader({ mode: "byob" });
    this.#writer = this.#child.stdin.getWriter();
    this.#writer.closed.catch(() => {});
    this.exited = this.#child.status.then(async (s) => {
      this.#gone = true;
      await this.#confining;
      this.memoryKilled = await this.#conf?.finish() ?? false;
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

  /**
   * Send a frame. A small one goes in a single write; a large one as its
   * header and meta, then its data uncopied.
   */
  send(type: number, meta: unknown, data?: Uint8Array): Promise<void> {
    // Both writes are queued before this returns, so frames sent without awaiting stay in order.
    const m = meta instanceof Uint8Array ? meta : new TextEncoder().encode(JSON.stringify(meta));
    const n = data?.length ?? 0;
    if (n && n <= SMALL_FRAME) {
      const all = frameHead(type, m, { data: n, room: n });
      all.set(data!, all.length - n);
      return this.#writer.write(all);
    }
    const head = this.#writer.write(frameHead(type, m, { data: n }));
    if (!n) return head;
    const body = this.#writer.write(data!);
    head.catch(() => {});
    return body;
  }

  /** Read more of stdout into the scratch buffer; false at end of stream. */
  async #fill(): Promise<boolean> {
    if (this.#start === this.#end) this.#start = this.#end = 0;
    else if (this.#end === SCRATCH) {
      new Uint8Array(this.#scratch).copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    const r = await this.#reader.read(new Uint8Array(this.#scratch, this.#end));
    if (r.done || !r.value) return false;
    this.#scratch = r.value.buffer as ArrayBuffer;
    this.#end += r.value.length;
    return true;
  }

  /**
   * `n` bytes from the stream into a buffer of their own, or into `into` at
   * `at` (the result views the same memory, in a new `ArrayBuffer` object:
   * BYOB reads hand the buffer back); undefined at end of stream.
   */
  async #take(n: number, into?: ArrayBuffer, at = 0): Promise<Uint8Array | undefined> {
    if (!into && n <= SCRATCH / 2) {
      while (this.#end - this.#start < n) if (!(await this.#fill())) return undefined;
      const out = new Uint8Array(this.#scratch.slice(this.#start, this.#start + n));
      this.#start += n;
      return out;
    }
    // Large: read straight into the destination.
    let buf = into ?? new ArrayBuffer(n);
    const have = Math.min(n, this.#end - this.#start);
    new Uint8Array(buf, at).set(new Uint8Array(this.#scratch, this.#start, have));
    this.#start += have;
    let o = have;
    while (o < n) {
      const r = await this.#reader.read(new Uint8Array(buf, at + o, n - o));
      if (r.done || !r.value) return undefined;
      buf = r.value.buffer as ArrayBuffer;
      o += r.value.length;
    }
    return new Uint8Array(buf, at, n);
  }

  /**
   * The next frame, or undefined when the process is gone. `maxData(type)`
   * bounds what the kernel accepts per frame type; a larger frame kills the process.
   */
  async next(
    maxMeta: number,
    maxData: (type: number) => number,
    options: { place?: Place } = {},
  ): Promise<Frame | undefined> {
    while (this.#end - this.#start < FRAME_HEADER) if (!(await this.#fill())) return undefined;
    const v = new DataView(this.#scratch, this.#start, FRAME_HEADER);
    const metaLen = v.getUint32(0, true);
    const dataLen = v.getUint32(4, true);
    const type = v.getUint8(8);
    if (metaLen > maxMeta || dataLen > maxData(type)) {
      this.kill("protocol");
      throw new Error(
        `frame type ${type} of ${metaLen}+${dataLen} bytes is over the limit ${maxMeta}+${
          maxData(type)
        }`,
      );
    }
    this.#start += FRAME_HEADER;
    const meta = await this.#take(metaLen);
    if (!meta) return undefined;
    const to = options.place?.(type, meta, dataLen);
    const data = await this.#take(dataLen, to?.into, to?.at);
    if (!data) return undefined;
    return { type, meta, data };
  }

  /** Wait for the READY frame (Extism loaded); false if the process died first. */
  async ready(): Promise<boolean> {
    await this.#confining;
    if (this.startError) return false;
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

/**
 * Start a plugin host process. Without `--allow-run` of this deno binary that is refused: the
 * error names the exact flag (Deno's own names the binary's path but not the flag to pass).
 */
function spawnHost(heapMiB: number): Deno.ChildProcess {
  try {
    return new Deno.Command(Deno.execPath(), {
      args: hostProcessArgs(heapMiB),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (err) {
    if (!isPermissionError(err)) throw err;
    throw new MissingPermissionError(
      "starting a WASM plugin's host process (each plugin runs in its own deno process)",
      `--allow-run=${Deno.execPath()}`,
      err,
    );
  }
}
