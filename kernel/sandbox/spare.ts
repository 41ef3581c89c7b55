/**
 * A warm spare plugin host process. Starting `deno run` and loading Extism
 * takes ~20–60 ms here, so after a plugin host starts, one idle process
 * (no permissions, no plugin, already in its own cgroup) is started in the
 * background; the next load takes it and only sends the module.
 *
 * The spare is started with the V8 heap cap of the last load (the cap is
 * fixed when a process starts); a load with another cap starts its own.
 * A spare is never started before the first plugin host, so a process that
 * runs no plugin never pays for one; `closeSpareProcess()` (called by
 * `closePluginHosts()`) stops it.
 * @module
 */
import { PluginProcess, runtimeOverhead } from "./plugin_process.ts";
import { SandboxError } from "./errors.ts";

interface Booting {
  proc: PluginProcess;
  ready: Promise<boolean>;
}

let spare: Booting | undefined;
let timer: ReturnType<typeof setTimeout> | undefined;
let closed = false;

function spawn(heapMiB: number): Booting {
  const proc = new PluginProcess(heapMiB, runtimeOverhead() + heapMiB * 1024 ** 2);
  const ready = proc.hold(() => proc.ready());
  return { proc, ready };
}

async function failure(proc: PluginProcess): Promise<Error> {
  if (proc.startError) return proc.startError;
  proc.kill("closed");
  await proc.exited.catch(() => {});
  const tail = (await proc.stderrTail()).trim().split("\n").slice(-5).join("\n");
  return new SandboxError(`the plugin host process failed to start: ${tail || "no output"}`, {
    hint: "check that flowyml's node_modules are installed (deno install) and deno.json is intact",
  });
}

/**
 * A ready host process with V8 heap cap `heapMiB` and memory limit
 * `memoryBytes`: the warm spare if it fits, else a new one. A new spare is
 * started in the background (after the current task) for the next load.
 */
export async function takeProcess(heapMiB: number, memoryBytes: number): Promise<PluginProcess> {
  closed = false;
  let b = spare;
  spare = undefined;
  if (b && b.proc.heapMiB !== heapMiB) {
    b.proc.close();
    b = undefined;
  }
  b ??= spawn(heapMiB);
  const first = b;
  if (!(await first.proc.hold(() => first.ready)) || !first.proc.alive) {
    await b.proc.close();
    b = spawn(heapMiB); // the spare died: one retry with a fresh process
    const again = b;
    if (!(await again.proc.hold(() => again.ready))) throw await failure(again.proc);
  }
  await b.proc.confinement.setLimit(memoryBytes);
  scheduleSpare(heapMiB);
  return b.proc;
}

function scheduleSpare(heapMiB: number): void {
  if (timer !== undefined || spare) return;
  timer = setTimeout(() => {
    timer = undefined;
    if (!closed) spare ??= spawn(heapMiB);
  }, 0);
}

/** Stop the spare process and any pending start of one. */
export async function closeSpareProcess(): Promise<void> {
  closed = true;
  if (timer !== undefined) clearTimeout(timer);
  timer = undefined;
  const s = spare;
  spare = undefined;
  await s?.proc.close();
}

/**
 * Former name of {@linkcode closeSpareProcess} (from when plugins ran in Worker threads).
 * @deprecated Use {@linkcode closeSpareProcess}: a plugin runs in a plugin host process.
 */
export const closeSpareWorker: () => Promise<void> = closeSpareProcess;
