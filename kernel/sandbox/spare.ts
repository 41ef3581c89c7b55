/**
 * A warm spare plugin host worker. `new Worker()` blocks the kernel thread
 * for 12–30 ms on our VMs and the worker then needs tens of milliseconds to
 * load its module, so a cold plugin load that starts a worker misses its
 * budget. After a plugin host starts, one idle worker (same narrowed
 * permissions, no plugin in it) is started in the background; the next load
 * takes it and only has to send the compiled module and instantiate it.
 *
 * A spare is never started before the first plugin host, so a process that
 * runs no plugin never pays for one; `closeSpareWorker()` (called by
 * `closePluginHosts()`) stops it.
 * @module
 */
import type { FromWorker } from "./protocol.ts";

/** Deno permissions of the plugin host worker (see docs/sandbox.md). */
export const WORKER_PERMISSIONS = {
  read: false,
  write: false,
  net: false,
  run: false,
  ffi: false,
  sys: false,
  import: false,
  // Extism reads these two when its module loads.
  env: ["EXTISM_ENABLE_WASI_OUTPUT", "__MINIMATCH_TESTING_PLATFORM__"],
} as const;

interface Booting {
  worker: Worker;
  ready: Promise<Worker>;
}

let spare: Booting | undefined;
let timer: ReturnType<typeof setTimeout> | undefined;

/** Start a host worker; resolves once its module has loaded (`ready`). */
function spawn(): Booting {
  const worker = new Worker(new URL("./worker.ts", import.meta.url), {
    type: "module",
    name: "flowyml-plugin-host",
    // deno-lint-ignore no-explicit-any
    deno: { permissions: WORKER_PERMISSIONS } as any,
  });
  const ready = new Promise<Worker>((resolve, reject) => {
    worker.onmessage = (ev: MessageEvent<FromWorker>) => {
      if (ev.data.type === "ready") resolve(worker);
    };
    worker.onerror = (e) => {
      e.preventDefault();
      worker.terminate();
      reject(new Error(`plugin host worker failed to start: ${e.message}`));
    };
  });
  ready.catch(() => {});
  return { worker, ready };
}

/**
 * A ready host worker: the warm spare if there is one, else a new one. A new
 * spare is started in the background (after the current task) for the next load.
 */
export async function takeWorker(): Promise<Worker> {
  const b = spare ?? spawn();
  spare = undefined;
  let w: Worker;
  try {
    w = await b.ready;
  } catch {
    w = await spawn().ready; // the spare died: one retry with a fresh worker
  }
  w.onmessage = null;
  w.onerror = null;
  scheduleSpare();
  return w;
}

function scheduleSpare(): void {
  if (timer !== undefined || spare) return;
  timer = setTimeout(() => {
    timer = undefined;
    spare ??= spawn();
  }, 0);
}

/** Stop the spare worker and any pending start of one. */
export function closeSpareWorker(): void {
  if (timer !== undefined) clearTimeout(timer);
  timer = undefined;
  spare?.worker.terminate();
  spare = undefined;
}
