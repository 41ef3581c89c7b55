/**
 * `WorkerExecutor` (`type: worker`): runs each step in a pool of Deno
 * Workers, so CPU-bound steps use every core. A worker imports the pipeline
 * module by its specifier and runs the step by name; inputs and outputs are
 * copied by structured clone. Pipelines need a known module: the CLI sets
 * it, or pass `new Pipeline(name, { source: import.meta.url })`.
 * @module
 */
import { Executor } from "../../kernel/contracts.ts";
import type { PermissionNeeds } from "../../kernel/component.ts";
import { ConfigError } from "../../kernel/errors.ts";
import { getSerializers } from "../../kernel/serializers.ts";
import type { Step, StepContext } from "../../kernel/step.ts";
import { untrackedParams } from "../../kernel/step_runner.ts";
import { workerExecutorNeeds, type WorkerExecutorOptions, workerExecutorSchema } from "./config.ts";

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  ctx: StepContext;
}

interface Slot {
  worker: Worker;
  busy: boolean;
}

/** Put back the outputs the worker serialized itself (see _thread_main.ts). */
async function unpack(
  value: unknown,
  packed: Record<string, { serializer: string; bytes: Uint8Array; meta?: Record<string, unknown> }>,
): Promise<unknown> {
  const names = Object.keys(packed ?? {});
  if (!names.length) return value;
  const load = async (n: string) => {
    const ser = await getSerializers().loaded(packed[n].serializer);
    return ser.deserialize(packed[n].bytes, packed[n].meta);
  };
  // A single-output step's value was sent as bytes alone (a multi-output step sends an object).
  if (value === null) return await load(names[0]);
  const obj = { ...(value as Record<string, unknown>) };
  for (const n of names) obj[n] = await load(n);
  return obj;
}

/** Runs steps on a pool of Deno Workers. */
export class WorkerExecutor extends Executor {
  /** Registry type: `type: worker` in `flowyml.yaml`. */
  static readonly type = "worker";
  /** Validates the `executor:` options of a stack. */
  static readonly configSchema: typeof workerExecutorSchema = workerExecutorSchema;
  /** Max Workers in the pool. Default: the number of CPU cores (at least 1). */
  readonly workers: number;
  #slots: Slot[] = [];
  #queue: (() => void)[] = [];
  #pending = new Map<number, Pending>();
  #nextId = 1;

  /** An executor named `options.name` (default `worker`); Workers start on demand. */
  constructor(options: WorkerExecutorOptions = {}) {
    super(options.name ?? "worker");
    this.workers = options.workers ?? Math.max(1, navigator.hardwareConcurrency || 2);
  }

  /** `{ type: "worker", workers }`. */
  override toDict(): Record<string, unknown> {
    return { type: "worker", workers: this.workers };
  }

  /** flowyml's own sources, which each Worker loads afresh: see `workerExecutorNeeds`. */
  override permissions(): PermissionNeeds {
    return workerExecutorNeeds();
  }

  #spawn(): Slot {
    const worker = new Worker(new URL("./_thread_main.ts", import.meta.url), { type: "module" });
    const slot: Slot = { worker, busy: false };
    worker.onmessage = (e: MessageEvent) => {
      const m = e.data;
      const p = this.#pending.get(m.id);
      if (!p) return;
      if (m.type === "log") return p.ctx.log(m.message);
      if (m.type === "metrics") return p.ctx.logMetrics(m.metrics);
      this.#pending.delete(m.id);
      if (m.type === "done") {
        // Replay the worker's param reads on the tracked params, so the cache key is exact.
        if (m.read === "*") Object.keys(p.ctx.params);
        else for (const k of m.read as string[]) void p.ctx.params[k];
        unpack(m.value, m.packed).then(p.resolve, p.reject);
      } else {
        // A permission error keeps its class, so it is explained (flag, culprit) and not retried.
        const Cls = m.name === "NotCapable"
          ? Deno.errors.NotCapable
          : m.name === "PermissionDenied"
          ? Deno.errors.PermissionDenied
          : Error;
        const err = new Cls(m.message);
        err.name = m.name;
        if (m.stack) err.stack = m.stack;
        p.reject(err);
      }
    };
    worker.onerror = (e) => {
      e.preventDefault();
      for (const [id, p] of this.#pending) {
        this.#pending.delete(id);
        // A Worker refused its own modules is a permission error: never retried, flag named.
        const Cls = /Requires \w+ access/.test(e.message) ? Deno.errors.NotCapable : Error;
        p.reject(new Cls(`step worker crashed: ${e.message}`));
      }
      this.#replace(slot);
    };
    this.#slots.push(slot);
    return slot;
  }

  #replace(slot: Slot): void {
    slot.worker.terminate();
    this.#slots = this.#slots.filter((s) => s !== slot);
    this.#drain();
  }

  #drain(): void {
    while (this.#queue.length) {
      const free = this.#slots.find((s) => !s.busy) ??
        (this.#slots.length < this.workers ? this.#spawn() : undefined);
      if (!free) return;
      free.busy = true;
      const start = this.#queue.shift()!;
      (start as unknown as (s: Slot) => void)(free);
    }
  }

  /** Runs the step in a pooled Worker that imports `ctx.source`; aborting kills that Worker. */
  override executeStep(
    step: Step,
    inputs: Record<string, unknown>,
    ctx: StepContext,
  ): Promise<unknown> {
    if (!ctx.source) {
      return Promise.reject(
        new ConfigError(`worker executor: step "${step.name}" has no pipeline module to import`, {
          hint: "run it with `flowyml run`, or create the pipeline with " +
            "new Pipeline(name, { source: import.meta.url })",
        }),
      );
    }
    return new Promise((resolve, reject) => {
      const run = (slot: Slot) => {
        if (ctx.signal.aborted) {
          // Timed out or cancelled while waiting for a Worker: never start it.
          slot.busy = false;
          this.#drain();
          return reject(ctx.signal.reason ?? new Error("aborted"));
        }
        const id = this.#nextId++;
        const done = () => {
          slot.busy = false;
          this.#drain();
        };
        const onAbort = () => {
          if (!this.#pending.delete(id)) return;
          reject(ctx.signal.reason ?? new Error("aborted"));
          this.#replace(slot); // the only way to stop a busy worker
        };
        ctx.signal.addEventListener("abort", onAbort, { once: true });
        this.#pending.set(id, {
          ctx,
          resolve: (v) => {
            ctx.signal.removeEventListener("abort", onAbort);
            done();
            resolve(v);
          },
          reject: (e) => {
            ctx.signal.removeEventListener("abort", onAbort);
            done();
            reject(e);
          },
        });
        slot.worker.postMessage({
          id,
          source: ctx.source,
          pipeline: ctx.pipeline,
          step: step.name,
          inputs,
          params: untrackedParams(ctx.params),
          runId: ctx.runId,
          attempt: ctx.attempt,
        });
      };
      this.#queue.push(run as unknown as () => void);
      this.#drain();
    });
  }

  /** Stop idle workers once a run is over (they would keep the process alive). */
  override runFinished(): void {
    if (this.#pending.size || this.#queue.length) return;
    for (const s of this.#slots) s.worker.terminate();
    this.#slots = [];
  }

  /** Terminates every Worker and rejects steps still running. */
  override close(): void {
    for (const s of this.#slots) s.worker.terminate();
    this.#slots = [];
    for (const [, p] of this.#pending) p.reject(new Error("worker executor closed"));
    this.#pending.clear();
  }
}
