/**
 * Hostile and helper plugins for the sandbox tests, written in WAT and
 * compiled with npm:wabt. Each fixture is a real WebAssembly module that
 * speaks (or abuses) the flowyml plugin ABI.
 * @module
 */
import wabtInit from "wabt";
import {
  appendCustomSection,
  closePluginHosts,
  MANIFEST_SECTION,
} from "../../kernel/sandbox/mod.ts";
import { sha256Hex } from "../../kernel/hash.ts";
import { buildStack, parseConfig, type Stack } from "../../mod.ts";
import { tempDir } from "../_helpers.ts";

const wabtP = wabtInit();

/** The flowyml host imports, as WAT. */
export const IMPORTS = `
 (import "extism:host/user" "flowyml_call" (func $call (param i32 i32) (result i32)))
 (import "extism:host/user" "flowyml_response" (func $response (param i32)))
 (import "extism:host/user" "flowyml_output" (func $output (param i32 i32)))
 (import "extism:host/user" "flowyml_size" (func $size (param i32) (result i64)))
 (import "extism:host/user" "flowyml_read" (func $read (param i32 i64 i32 i32) (result i32)))
 (import "extism:host/user" "flowyml_create" (func $create (param i64) (result i32)))
 (import "extism:host/user" "flowyml_write" (func $write (param i32 i32 i32) (result i32)))
`;

/** Escape a string for a WAT data segment. */
export function watString(s: string): string {
  return [...new TextEncoder().encode(s)].map((b) => `\\${b.toString(16).padStart(2, "0")}`).join(
    "",
  );
}

/** Compile WAT to a module, with an optional manifest section. */
export async function wat(src: string, manifest?: Record<string, unknown>): Promise<Uint8Array> {
  const wabt = await wabtP;
  const mod = wabt.parseWat("fixture.wat", src, { bulk_memory: true });
  const bytes = new Uint8Array(mod.toBinary({}).buffer);
  mod.destroy();
  return manifest
    ? appendCustomSection(
      bytes,
      MANIFEST_SECTION,
      new TextEncoder().encode(JSON.stringify(manifest)),
    )
    : bytes;
}

const OUT_ECHO = '{"outputs":{"out":{"handle":2,"serializer":"bytes"}}}';

/** Echo: copies input handle 1 to a new handle (output `out`), 1 MiB at a time. */
export function echoWat(extra = ""): string {
  return `(module ${IMPORTS}
 (memory (export "memory") 20)
 (data (i32.const 0) "${watString(OUT_ECHO)}")
 (func (export "run") (result i32)
  (local $n i64) (local $off i64) (local $got i32) (local $h i32)
  (local.set $n (call $size (i32.const 1)))
  (local.set $h (call $create (local.get $n)))
  (block $done (loop $l
    (local.set $got (call $read (i32.const 1) (local.get $off) (i32.const 65536) (i32.const 1048576)))
    (br_if $done (i32.eqz (local.get $got)))
    (drop (call $write (local.get $h) (i32.const 65536) (local.get $got)))
    (local.set $off (i64.add (local.get $off) (i64.extend_i32_u (local.get $got))))
    (br $l)))
  (call $output (i32.const 0) (i32.const ${OUT_ECHO.length}))
  (i32.const 0))
 ${extra})`;
}

/**
 * Sends each request in turn; traps when a response starts with
 * `{"ok":false`, else outputs the last response as a string output `out`.
 */
export function requestsWat(requests: string[]): string {
  let data = "";
  let off = 0;
  const calls: string[] = [];
  for (const r of requests) {
    data += ` (data (i32.const ${off}) "${watString(r)}")`;
    calls.push(
      `(local.set $n (call $call (i32.const ${off}) (i32.const ${
        new TextEncoder().encode(r).length
      })))
      (call $response (i32.const 32768))
      (if (i32.eq (i32.load8_u (i32.const 32774)) (i32.const 102)) (then unreachable))`,
    );
    off += new TextEncoder().encode(r).length + 8;
  }
  const out = '{"outputs":{"out":{"handle":0,"serializer":"string"}}}';
  const digit = 16384 + out.indexOf("0");
  return `(module ${IMPORTS}
 (memory (export "memory") 4)
 ${data}
 (data (i32.const 16384) "${watString(out)}")
 (func (export "run") (result i32) (local $n i32) (local $h i32)
  ${calls.join("\n  ")}
  (local.set $h (call $create (i64.const 0)))
  (i32.store8 (i32.const ${digit}) (i32.add (i32.const 48) (local.get $h)))
  (drop (call $write (local.get $h) (i32.const 32768) (local.get $n)))
  (call $output (i32.const 16384) (i32.const ${out.length}))
  (i32.const 0)))`;
}

/** A local stack in a temp folder. */
export async function tempStack(dir: string): Promise<Stack> {
  const config = parseConfig(`
stacks:
  t:
    artifact_store: { type: local, path: ${dir}/artifacts }
    metadata_store: { type: sqlite, path: ${dir}/metadata.db }
`);
  return await buildStack(config, "t");
}

/** A local stack and the temp folder it lives in. */
export interface StackCtx {
  dir: string;
  stack: Stack;
}

/**
 * Run `fn` on a local stack in a fresh temp folder; then close the plugin
 * hosts and the stack and remove the folder.
 */
export async function withTempStack(
  prefix: string,
  fn: (c: StackCtx) => Promise<void>,
): Promise<void> {
  const t = await tempDir(prefix);
  const stack = await tempStack(t.path);
  try {
    await fn({ dir: t.path, stack });
  } finally {
    await closePluginHosts();
    await stack.close();
    await t.cleanup();
  }
}

/** Write a module to `dir` and return a plugin config entry pinning its sha256. */
export async function pluginEntry(
  dir: string,
  name: string,
  bytes: Uint8Array,
  grants: Record<string, unknown> = {},
): Promise<Record<string, unknown>> {
  const path = `${dir}/${name}.wasm`;
  await Deno.writeFile(path, bytes);
  return { source: path, sha256: sha256Hex(bytes), grants };
}

/** CPU seconds (user + system) this process has used, from /proc/self/stat. */
export function processCpuSeconds(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[11] = utime, fields[12] = stime (fields 14 and 15 of the full line), in clock ticks.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Resident set size of this process in bytes. */
export function rssBytes(): number {
  return Deno.memoryUsage().rss;
}

/** Pids of this process's live children (plugin host processes, the spare, helpers). */
export function childPids(): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // f[0] = state, f[1] = ppid; zombies (Z) are already dead.
      if (Number(f[1]) === Deno.pid && f[0] !== "Z") out.push(Number(e.name));
    } catch {
      // gone
    }
  }
  return out;
}

/** CPU this process uses over `ms` ms, in cores (1 = one core busy the whole time). */
export async function cpuLoad(ms = 1000): Promise<number> {
  const c0 = processCpuSeconds();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  return (processCpuSeconds() - c0) / ((performance.now() - t0) / 1000);
}
