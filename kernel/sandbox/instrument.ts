/**
 * Cooperative interrupts, rewritten into a module before it is compiled.
 *
 * Binaryen's `log-execution` pass puts a call at every function entry and
 * every loop header. That call is replaced by a countdown on a new global;
 * every {@linkcode INTERRUPT_EVERY} ticks it calls the host import
 * `extism:host/user` `flowyml_interrupt_check`, which throws when the call's
 * deadline has passed or the kernel cancelled it. A plugin stuck in a loop
 * therefore unwinds within a few milliseconds and no thread is left spinning
 * (Deno's `worker.terminate()` does not stop a looping thread).
 * @module
 */
import { SandboxError } from "./errors.ts";

/** The import every instrumented module gets. */
export const INTERRUPT_IMPORT = { module: "extism:host/user", name: "flowyml_interrupt_check" };
/** Ticks (function entries + loop iterations) between two interrupt checks. */
export const INTERRUPT_EVERY = 65_536;
/** Bumped when the rewrite changes; part of the prepared-module cache key. */
export const INSTRUMENT_VERSION = 2;

// deno-lint-ignore no-explicit-any
type Binaryen = any;
let binaryenP: Promise<Binaryen> | undefined;

async function loadBinaryen(): Promise<Binaryen> {
  binaryenP ??= import("binaryen").then(async (m) => {
    const b = m.default as Binaryen;
    await b.ready;
    return b;
  });
  return await binaryenP;
}

/** Add the interrupt countdown to every loop and function entry of `bytes`. */
export async function instrumentInterrupts(bytes: Uint8Array): Promise<Uint8Array> {
  const b = await loadBinaryen();
  let m: Binaryen;
  try {
    m = b.readBinary(bytes);
  } catch (err) {
    throw new SandboxError(`module could not be parsed for instrumentation: ${err}`);
  }
  try {
    // V8's features, listed explicitly: Features.All emits encodings V8 rejects.
    const F = b.Features;
    m.setFeatures(
      F.MVP | F.MutableGlobals | F.NontrappingFPToInt | F.SignExt | F.BulkMemory |
        (F.BulkMemoryOpt ?? 0) |
        F.SIMD128 |
        F.Multivalue | F.ReferenceTypes,
    );
    m.runPasses(["log-execution"]);
    const logName = findLogImport(b, m);
    if (!logName) return bytes; // no function bodies at all
    const budget = "__flowyml_budget";
    const check = "__flowyml_interrupt_check";
    m.addGlobal(budget, b.i32, true, m.i32.const(INTERRUPT_EVERY));
    m.addFunctionImport(check, INTERRUPT_IMPORT.module, INTERRUPT_IMPORT.name, b.none, b.none);
    m.removeFunction(logName);
    m.addFunction(
      logName,
      b.createType([b.i32]),
      b.none,
      [],
      m.block(null, [
        m.global.set(budget, m.i32.sub(m.global.get(budget, b.i32), m.i32.const(1))),
        m.if(
          m.i32.le_s(m.global.get(budget, b.i32), m.i32.const(0)),
          m.block(null, [
            m.global.set(budget, m.i32.const(INTERRUPT_EVERY)),
            m.call(check, [], b.none),
          ]),
        ),
      ]),
    );
    // Inline the countdown into its callers: the check is then a global decrement.
    b.setAlwaysInlineMaxSize(64);
    m.runPasses(["inlining-optimizing"]);
    if (!m.validate()) throw new SandboxError("instrumented module does not validate");
    return m.emitBinary();
  } finally {
    m.dispose();
  }
}

function findLogImport(b: Binaryen, m: Binaryen): string | undefined {
  const n = m.getNumFunctions();
  for (let i = 0; i < n; i++) {
    const info = b.getFunctionInfo(m.getFunctionByIndex(i));
    if (info.module && info.base === "log_execution") return info.name;
  }
  return undefined;
}
