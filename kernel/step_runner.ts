/**
 * Runs one step attempt given its input artifact references: load inputs,
 * call the executor, store outputs content-addressed. Shared by the local
 * orchestrator and remote queue workers, so both store identical artifacts.
 * @module
 */
import { type BlobStore, loadValue, putValue } from "./artifacts.ts";
import type { Executor, StackLike, StepArtifacts } from "./contracts.ts";
import type { ArtifactStore } from "./artifact_store.ts";
import type { ArtifactRef } from "./records.ts";
import { PipelineDefinitionError } from "./errors.ts";
import { collectOutputs, type Step, type StepContext } from "./step.ts";
import { withRunContext } from "./run_context.ts";

/** A step attempt, as data: can be sent to another process or machine. */
export interface StepTask {
  /** Run the attempt belongs to. */
  runId: string;
  /** Name of the pipeline. */
  pipeline: string;
  /** Name of the step to run. */
  step: string;
  /** Attempt number, 1 for the first. */
  attempt: number;
  /** The params the step may see. */
  params: Record<string, unknown>;
  /** Stored inputs by input name; loaded before the step is called. */
  inputs: Record<string, ArtifactRef>;
  /** Time limit of the attempt in ms, enforced by whoever runs the task (e.g. a queue worker). */
  timeoutMs?: number;
  /** Module specifier of the pipeline (remote workers and worker executors import it). */
  source?: string;
}

/** What a step attempt produced. */
export interface StepTaskResult {
  /** Stored outputs by output name. */
  outputs: Record<string, ArtifactRef>;
  /** Param names the step read, or `"*"` when it enumerated them all. */
  readParams: string[] | "*";
  /** Who ran it. */
  worker?: string;
  /** Log lines of a step run elsewhere (remote workers), replayed as `step_log` events. */
  logs?: string[];
  /** Metrics the step logged with `ctx.logMetrics`. */
  metrics?: Record<string, number>;
  /** Output values still in memory (local runs), by output name. */
  values?: Record<string, unknown>;
}

/** Sends one step attempt somewhere to run (the orchestrator's dispatch hook). */
export type Dispatch = (task: StepTask, step: Step, signal: AbortSignal) => Promise<StepTaskResult>;

/** In-memory values of this run, by content hash, so consumers skip a reload. */
export type ValueCache = Map<string, unknown>;

/** Dependencies of {@linkcode runStepTask}. */
export interface StepRunnerDeps {
  /** Store the inputs are loaded from and the outputs written to. */
  store: ArtifactStore;
  /** Executor that calls the step function. */
  executor: Executor;
  /** Passed on as `ctx.signal`; aborted on timeout or cancellation. */
  signal: AbortSignal;
  /** Values already in memory, by content hash; skips loading inputs and gets outputs added. */
  values?: ValueCache;
  /** Receives the step's `ctx.log` lines (default: console, prefixed with the step name). */
  log?: (message: string) => void;
  /** Who runs the attempt, reported back as {@linkcode StepTaskResult.worker}. */
  worker?: string;
  /** The stack, passed on to the step as `ctx.stack` (deprecated; steps use `ctx.artifacts`). */
  stack?: StackLike;
  /**
   * Store outputs up to its `inlineMaxBytes` inline in this metadata store (committed with the
   * step's completion) instead of in `store`: only when every reader of the run reaches it.
   * Inline inputs are read from it (default: `stack.metadataStore`).
   */
  inline?: BlobStore;
}

const UNTRACKED = Symbol("flowyml.untrackedParams");

/** The plain params behind `ctx.params`, read without marking anything as read. */
export function untrackedParams(params: Record<string, unknown>): Record<string, unknown> {
  return (params as Record<symbol, Record<string, unknown>>)[UNTRACKED] ?? params;
}

/**
 * A params object that records which keys are read. Enumerating it (spread,
 * `Object.keys`) counts as reading every param.
 */
export function trackedParams(params: Record<string, unknown>): {
  proxy: Record<string, unknown>;
  read: () => string[] | "*";
} {
  const read = new Set<string>();
  let all = false;
  const proxy = new Proxy(params, {
    get(t, k) {
      if (k === UNTRACKED) return t;
      if (typeof k === "string") read.add(k);
      return Reflect.get(t, k);
    },
    has(t, k) {
      if (typeof k === "string") read.add(k);
      return Reflect.has(t, k);
    },
    ownKeys(t) {
      all = true;
      return Reflect.ownKeys(t);
    },
    set() {
      throw new TypeError("ctx.params is read-only");
    },
  });
  return { proxy, read: () => (all ? "*" : [...read].sort()) };
}

/** The params a step can see: all, or only those it declares in `options.params`. */
export function visibleParams(
  step: Step,
  params: Record<string, unknown>,
): Record<string, unknown> {
  if (!step.options.params) return params;
  const out: Record<string, unknown> = {};
  for (const k of step.options.params) if (k in params) out[k] = params[k];
  return out;
}

/** Validate metrics passed to `ctx.logMetrics`: names to finite numbers. */
export function checkMetrics(step: string, m: Record<string, number>): Record<string, number> {
  if (!m || typeof m !== "object") {
    throw new PipelineDefinitionError(`step "${step}": logMetrics() takes an object of numbers`, {
      hint: "write ctx.logMetrics({ accuracy: 0.97 })",
    });
  }
  for (const [k, v] of Object.entries(m)) {
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new PipelineDefinitionError(
        `step "${step}": metric "${k}" must be a finite number, got ${String(v)}`,
        { hint: "log numbers only; put other values in an output artifact" },
      );
    }
  }
  return m;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (!v || typeof v !== "object") return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * Strict outputs: what a step returns must match the outputs it declares.
 * - several outputs: an object with exactly those keys (extra keys are an error naming them);
 * - one output `x`: the value itself; a plain object whose only key is `x` is an error, as it
 *   is almost always a forgotten unwrap (`return { x }` instead of `return x`);
 * - no outputs: an object of named values is an error (undeclared outputs); other values are
 *   ignored.
 */
export function checkReturned(step: Step, returned: unknown): unknown {
  const outs = step.outputs;
  const s = `step "${step.name}"`;
  if (outs.length === 1) {
    if (isPlainObject(returned)) {
      const keys = Object.keys(returned);
      if (keys.length === 1 && keys[0] === outs[0]) {
        throw new PipelineDefinitionError(
          `${s} has one output "${outs[0]}" and returned an object whose only key is ` +
            `"${outs[0]}"; a single-output step returns the value itself`,
          {
            hint: `return the value (return ${outs[0]}), not { ${outs[0]} }; to store such an ` +
              `object on purpose, give the output another name than its key`,
          },
        );
      }
    }
    return returned;
  }
  // A non-object from a step without outputs (e.g. a count from a side effect) is ignored.
  if (!isPlainObject(returned)) return returned;
  checkExtraKeys(s, Object.keys(returned), outs);
  return returned;
}

function checkExtraKeys(s: string, keys: string[], outs: readonly string[]): void {
  const extra = keys.filter((k) => !outs.includes(k));
  if (!extra.length) return;
  const declared = outs.length ? `declares outputs ${outs.join(", ")}` : "declares no outputs";
  throw new PipelineDefinitionError(
    `${s} returned undeclared output(s) ${extra.join(", ")}; it ${declared}`,
    {
      hint: `add ${extra.map((k) => `"${k}"`).join(", ")} to the step's outputs, or stop ` +
        "returning them",
    },
  );
}

/** The artifact service of a step: verified loads and content-addressed saves on `store`. */
function stepArtifacts(store: ArtifactStore, step: string, blobs?: BlobStore): StepArtifacts {
  return {
    load: (ref) => loadValue(store, ref, { label: `artifact read by step "${step}"`, blobs }),
    save: (value) => putValue(store, value, { label: `artifact saved by step "${step}"` }),
  };
}

/**
 * Run one attempt of `step` for `task`, with the run and step as the current run context
 * (kernel/run_context.ts), so stores called from inside it audit under them.
 */
export function runStepTask(
  step: Step,
  task: StepTask,
  deps: StepRunnerDeps,
): Promise<StepTaskResult> {
  const ctx = { runId: task.runId, step: step.name, ...(deps.stack ? { stack: deps.stack } : {}) };
  return withRunContext(ctx, () => runStepAttempt(step, task, deps));
}

async function runStepAttempt(
  step: Step,
  task: StepTask,
  deps: StepRunnerDeps,
): Promise<StepTaskResult> {
  const inputs: Record<string, unknown> = {};
  const blobs = deps.inline ?? deps.stack?.metadataStore;
  await Promise.all(
    Object.entries(task.inputs).map(async ([name, ref]) => {
      inputs[name] = deps.values?.has(ref.hash)
        ? deps.values.get(ref.hash)
        : await loadValue(deps.store, ref, {
          label: `"${name}" (input of step "${step.name}")`,
          blobs,
        });
    }),
  );
  const metrics: Record<string, number> = {};
  const tracked = trackedParams(task.params);
  const ctx: StepContext = {
    params: tracked.proxy,
    runId: task.runId,
    step: step.name,
    attempt: task.attempt,
    signal: deps.signal,
    log: deps.log ?? ((m) => console.log(`[${step.name}] ${m}`)),
    logMetrics: (m) => Object.assign(metrics, checkMetrics(step.name, m)),
    artifacts: stepArtifacts(deps.store, step.name, blobs),
    ...(deps.stack ? { stack: deps.stack } : {}),
    pipeline: task.pipeline,
    ...(task.source ? { source: task.source } : {}),
  };
  const returned = await deps.executor.executeStep(step, inputs, ctx);
  deps.signal.throwIfAborted();
  const values = collectOutputs(step, checkReturned(step, returned));
  const outputs: Record<string, ArtifactRef> = {};
  await Promise.all(
    Object.entries(values).map(async ([name, v]) => {
      outputs[name] = await putValue(deps.store, v, {
        label: `step "${step.name}" output "${name}"`,
        inline: deps.inline,
      });
      deps.values?.set(outputs[name].hash, v);
    }),
  );
  return {
    outputs,
    readParams: tracked.read(),
    worker: deps.worker,
    values,
    ...(Object.keys(metrics).length ? { metrics } : {}),
  };
}
