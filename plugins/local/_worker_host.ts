/**
 * Inside a worker of the `WorkerExecutor`: imports the pipeline module by
 * its specifier, finds the step by name and runs its function. Param reads
 * are tracked and reported back so the cache key stays exact.
 * @module
 */
/// <reference lib="deno.worker" />

interface Job {
  id: number;
  source: string;
  pipeline: string;
  step: string;
  inputs: Record<string, unknown>;
  params: Record<string, unknown>;
  runId: string;
  attempt: number;
}

type StepLike = { name: string; fn: (inputs: unknown, ctx: unknown) => unknown };
type PipelineLike = { name: string; steps: readonly StepLike[] };

const modules = new Map<string, Promise<Record<string, unknown>>>();

function findPipeline(mod: Record<string, unknown>, name: string): PipelineLike | undefined {
  const candidates = [mod.default, mod.pipeline, ...Object.values(mod)];
  return candidates.find((p): p is PipelineLike =>
    !!p && typeof p === "object" && (p as PipelineLike).name === name &&
    Array.isArray((p as PipelineLike).steps)
  );
}

self.onmessage = async (e: MessageEvent<Job>) => {
  const job = e.data;
  try {
    let mod = modules.get(job.source);
    if (!mod) {
      mod = import(job.source);
      modules.set(job.source, mod);
    }
    const p = findPipeline(await mod, job.pipeline);
    if (!p) throw new Error(`module ${job.source} exports no pipeline named "${job.pipeline}"`);
    const s = p.steps.find((x) => x.name === job.step);
    if (!s) {
      throw new Error(`pipeline "${job.pipeline}" in ${job.source} has no step "${job.step}"`);
    }
    const read = new Set<string>();
    let all = false;
    const params = new Proxy(job.params, {
      get: (t, k) => (typeof k === "string" && read.add(k), Reflect.get(t, k)),
      has: (t, k) => (typeof k === "string" && read.add(k), Reflect.has(t, k)),
      ownKeys: (t) => ((all = true), Reflect.ownKeys(t)),
    });
    const ctx = {
      params,
      runId: job.runId,
      step: job.step,
      attempt: job.attempt,
      signal: new AbortController().signal,
      source: job.source,
      log: (message: string) => self.postMessage({ id: job.id, type: "log", message }),
      logMetrics: (metrics: Record<string, number>) =>
        self.postMessage({ id: job.id, type: "metrics", metrics }),
    };
    const value = await s.fn(job.inputs, ctx);
    self.postMessage({ id: job.id, type: "done", value, read: all ? "*" : [...read] });
  } catch (err) {
    const e2 = err as Error;
    self.postMessage({
      id: job.id,
      type: "error",
      name: e2?.name ?? "Error",
      message: e2?.message ?? String(err),
      stack: e2?.stack,
    });
  }
};
