/**
 * Inside a worker of the `WorkerExecutor`: imports the pipeline module by
 * its specifier, finds the step by name and runs its function. Param reads
 * are tracked and reported back so the cache key stays exact.
 *
 * Outputs cross back by structured clone, which turns class instances into
 * plain objects. So each output is checked here first: one a registered
 * (non-built-in) serializer handles is serialized here and sent as bytes;
 * any other value must be one the built-in serializers store exactly, or the
 * step fails naming the output, the type and where it is.
 * @module
 */
/// <reference lib="deno.worker" />
// The modules flowyml loads on demand (a plugin step run here), in this worker's graph: a worker
// holding the parent's permissions may not read flowyml's folder (kernel/lazy_import.ts).
import "../lazy_graph.ts";
import { getSerializers } from "../../kernel/serializers.ts";
import { storableFormat, UnstorableValueError } from "../../kernel/storable.ts";

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

type StepLike = {
  name: string;
  outputs?: readonly string[];
  fn: (inputs: unknown, ctx: unknown) => unknown;
};

/** An output serialized in the worker by a registered serializer. */
export interface PackedOutput {
  serializer: string;
  bytes: Uint8Array;
  meta?: Record<string, unknown>;
}

const BUILT_IN = new Set(["typed_array", "bytes", "string", "json", "v8"]);

/** Check each declared output; serialize those a registered serializer handles. */
async function packOutputs(
  s: StepLike,
  value: unknown,
): Promise<Record<string, PackedOutput>> {
  const outs = s.outputs ?? [];
  const packed: Record<string, PackedOutput> = {};
  for (const o of outs) {
    const v = outs.length === 1
      ? value
      : value && typeof value === "object"
      ? (value as Record<string, unknown>)[o]
      : undefined;
    if (v === undefined) continue; // reported by the caller, which knows the declared outputs
    try {
      const ser = getSerializers().forValue(v);
      // json, typed_array, bytes and string values came through canHandle checks already; v8 takes
      // anything, so check here what structured clone would change.
      if (ser.name === "v8") storableFormat(v);
      else if (!BUILT_IN.has(ser.name)) {
        if (ser.load) await ser.load();
        packed[o] = { serializer: ser.name, ...ser.serialize(v) };
      }
    } catch (err) {
      if (err instanceof UnstorableValueError) {
        throw err.withLabel(`step "${s.name}" output "${o}"`);
      }
      throw err;
    }
  }
  return packed;
}
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
    let value = await s.fn(job.inputs, ctx);
    const packed = await packOutputs(s, value);
    if (Object.keys(packed).length) {
      // The packed outputs travel as bytes; their values stay behind.
      value = (s.outputs ?? []).length === 1 ? null : {
        ...(value as Record<string, unknown>),
        ...Object.fromEntries(
          Object.keys(packed).map((k) => [k, null]),
        ),
      };
    }
    self.postMessage({ id: job.id, type: "done", value, packed, read: all ? "*" : [...read] });
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
