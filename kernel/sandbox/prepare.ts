/**
 * Preparing untrusted module bytes off the kernel's event loop, and the
 * prepared-module cache with its integrity manifest.
 *
 * - Validation, Binaryen instrumentation and a trial compile run in a
 *   no-permission `deno run` (instrument_process.ts) with a time budget of
 *   {@linkcode PREPARE_TIMEOUT_MS} and a memory budget of
 *   {@linkcode PREPARE_MEMORY} (cgroup or watchdog, limits.ts); over budget it
 *   is SIGKILLed.
 * - The result is cached as `prepared/<pin>-i<version>.wasm` next to
 *   `prepared/<pin>-i<version>.json` = `{pin, instrumentVersion,
 *   preparedSha256}`; a module the instrumenter refuses (or that blows its
 *   budget) is cached as `{pin, instrumentVersion, failed}`, so a poison
 *   module costs its budget once, not at every run.
 * - Before use, the prepared bytes are checked against the manifest and the
 *   plugin's pin; a mismatch is said on stderr and the module is prepared
 *   again in memory: tampered bytes never run.
 * @module
 */
import { dirname, join } from "node:path";
import { sha256Hex } from "../hash.ts";
import { MissingPermissionError } from "../errors.ts";
import { isPermissionError } from "../permissions.ts";
import { PluginViolationError, SandboxError } from "./errors.ts";
import { INSTRUMENT_VERSION } from "./instrument.ts";
import { Confinement } from "./limits.ts";
import { sandboxRunArgs } from "./plugin_process.ts";

/** Wall-clock budget of preparing one module. */
export const PREPARE_TIMEOUT_MS = 10_000;
/** Memory budget of the instrumenter process (Binaryen's own memory included). */
export const PREPARE_MEMORY = 1024 ** 3;
const budget = { timeoutMs: PREPARE_TIMEOUT_MS, memory: PREPARE_MEMORY };

/** Change the instrumenter's budget (tests); omitted fields go back to the defaults. */
export function setPrepareBudget(b: { timeoutMs?: number; memory?: number } = {}): void {
  budget.timeoutMs = b.timeoutMs ?? PREPARE_TIMEOUT_MS;
  budget.memory = b.memory ?? PREPARE_MEMORY;
}

/** What the cache manifest beside a prepared module records. */
interface PreparedManifest {
  pin: string;
  instrumentVersion: number;
  preparedSha256?: string;
  failed?: string;
}

const memo = new Map<string, Uint8Array | string>();

function paths(cacheDir: string, pin: string): { wasm: string; json: string } {
  const base = join(cacheDir, "prepared", `${pin}-i${INSTRUMENT_VERSION}`);
  return { wasm: `${base}.wasm`, json: `${base}.json` };
}

async function tryRead<T>(fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch {
    return undefined; // missing, unreadable or not permitted: prepare again
  }
}

/** Write atomically; false when the cache is not writable (the child has read access only). */
async function tryWrite(path: string, data: Uint8Array | string): Promise<boolean> {
  try {
    await Deno.mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.${crypto.randomUUID()}.tmp`;
    if (typeof data === "string") await Deno.writeTextFile(tmp, data);
    else await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
    return true;
  } catch {
    return false;
  }
}

function failure(name: string, message: string): PluginViolationError {
  return new PluginViolationError(name, "malformed", `could not be prepared: ${message}`);
}

/** Cached prepared bytes of `pin` if they check out; throws a cached failure. */
async function readCache(name: string, cacheDir: string, pin: string) {
  const p = paths(cacheDir, pin);
  const text = await tryRead(() => Deno.readTextFile(p.json));
  if (text === undefined) return undefined;
  let m: PreparedManifest;
  try {
    m = JSON.parse(text);
  } catch {
    m = { pin: "", instrumentVersion: -1 };
  }
  const bad = (why: string) => {
    console.error(
      `flowyml: the prepared module of plugin "${name}" in ${p.wasm} failed its integrity ` +
        `check (${why}); it is not used, the plugin is prepared again`,
    );
    return undefined;
  };
  if (m.pin !== pin || m.instrumentVersion !== INSTRUMENT_VERSION) {
    return bad(`manifest is for ${m.pin} v${m.instrumentVersion}`);
  }
  if (typeof m.failed === "string") {
    throw failure(name, `${m.failed} (cached; delete ${p.json} to try again)`);
  }
  const bytes = await tryRead(() => Deno.readFile(p.wasm));
  if (!bytes) return undefined;
  const actual = sha256Hex(bytes);
  if (actual !== m.preparedSha256) return bad(`sha256 ${actual}, manifest ${m.preparedSha256}`);
  return bytes;
}

/**
 * The instrumented bytes of a module whose sha256 is `pin` (already checked
 * against the plugin's pin): from memory, the cache (integrity-checked), or
 * the instrumenter process — whose result is written to the cache when it
 * is writable.
 */
export async function preparedBytes(
  name: string,
  bytes: Uint8Array,
  options: { pin: string; cacheDir: string },
): Promise<Uint8Array> {
  const { pin, cacheDir } = options;
  const hit = memo.get(pin);
  if (typeof hit === "string") throw failure(name, hit);
  if (hit) return hit;
  const cached = await readCache(name, cacheDir, pin);
  if (cached) {
    memo.set(pin, cached);
    return cached;
  }
  const p = paths(cacheDir, pin);
  const res = await instrumentInProcess(bytes);
  const manifest: PreparedManifest = { pin, instrumentVersion: INSTRUMENT_VERSION };
  if (typeof res === "string") {
    memo.set(pin, res);
    await tryWrite(p.json, JSON.stringify({ ...manifest, failed: res }));
    throw failure(name, res);
  }
  memo.set(pin, res);
  if (await tryWrite(p.wasm, res)) {
    await tryWrite(p.json, JSON.stringify({ ...manifest, preparedSha256: sha256Hex(res) }));
  }
  return res;
}

/** Forget prepared modules held in memory (tests, benches). */
export function clearPrepared(): void {
  memo.clear();
}

/**
 * Run the instrumenter process on `bytes`: the prepared bytes, or a message
 * (a string) saying why the module was refused or which budget it blew.
 */
export async function instrumentInProcess(bytes: Uint8Array): Promise<Uint8Array | string> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(Deno.execPath(), {
      args: sandboxRunArgs("instrument_process.ts", { v8Flags: "--max-old-space-size=256" }),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (err) {
    if (isPermissionError(err)) {
      throw new MissingPermissionError(
        "starting the WASM plugin instrumenter (a deno process of its own)",
        `--allow-run=${Deno.execPath()}`,
        err,
      );
    }
    throw new SandboxError(`could not start the plugin instrumenter: ${err}`);
  }
  let reason: "time" | "memory" | undefined;
  const conf = await Confinement.confine(child.pid, budget.memory, () => {
    reason = "memory";
    child.kill("SIGKILL");
  });
  const timer = setTimeout(() => {
    reason ??= "time";
    child.kill("SIGKILL");
  }, budget.timeoutMs);
  try {
    const w = child.stdin.getWriter();
    await w.write(bytes).catch(() => {});
    await w.close().catch(() => {});
    const out = await child.output();
    if (await conf.finish()) reason ??= "memory";
    if (reason === "time") {
      return `instrumentation exceeded its time budget of ${budget.timeoutMs} ms`;
    }
    if (reason === "memory") {
      return `instrumentation exceeded its memory budget of ${budget.memory / 1024 ** 2} MiB`;
    }
    if (out.stdout[0] === 0 && out.code === 0) return out.stdout.slice(1);
    if (out.stdout[0] === 1) return new TextDecoder().decode(out.stdout.subarray(1));
    const tail = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-2).join(" | ");
    return `the instrumenter failed (${out.signal ?? `exit ${out.code}`}): ${tail.slice(0, 500)}`;
  } finally {
    clearTimeout(timer);
    conf.release();
  }
}
