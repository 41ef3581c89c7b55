/**
 * One step of a run, run on its own: the unit every container orchestrator
 * ships (`flowyml step run`, the entrypoint of built images). It resolves the
 * step's inputs (from a task given by a driver, else from the run's records in
 * the metadata store, else from the result objects upstream steps left in the
 * artifact store), runs the step through {@linkcode runStepTask} (so inputs are
 * verified against their hashes and outputs stored content-addressed, exactly
 * as the local orchestrator does), and reports the result: as a result object
 * in the artifact store, and, when it owns the run's records, to the metadata
 * store as well.
 * @module
 */
import type { PipelineSpec, StackLike } from "./contracts.ts";
import { graphOf } from "./graph.ts";
import { describeError, FlowymlError } from "./errors.ts";
import type { ArtifactRef, StepRunRecord } from "./records.ts";
import { completionOf } from "./step_records.ts";
import type { Step } from "./step.ts";
import { runStepTask, type StepTask, type StepTaskResult, visibleParams } from "./step_runner.ts";

/** Where a step's result goes besides its result object. */
export type StepRecordMode = "metadata" | "none";

/** Options of {@linkcode runStepJob}. */
export interface StepJobOptions {
  /** Run the step belongs to. */
  runId: string;
  /** Attempt number (default 1). */
  attempt?: number;
  /** A task from a driver (its inputs and params win over the stores' records). */
  task?: Partial<StepTask>;
  /** Run params when no task carries them (default: the run record's params, else `{}`). */
  params?: Record<string, unknown>;
  /**
   * `metadata`: record the run (created if missing), the step run, artifacts,
   * lineage and metrics in the metadata store (no driver does it: Vertex, KFP,
   * Airflow, Kubernetes Jobs). `none`: a driver records the result (container
   * orchestrator). Default `metadata`.
   */
  record?: StepRecordMode;
  /** Aborted on timeout or SIGTERM. */
  signal?: AbortSignal;
  /** Receives one event per call (step logs, progress). */
  onEvent?: (event: StepJobEvent) => void;
  /** Reported as the step's worker (default `step-run`). */
  worker?: string;
}

/** One event of a step job, logged as one JSON line by `flowyml step run`. */
export interface StepJobEvent {
  /** `inputs_resolved`, `step_log`, `step_finished`, `step_failed`, `recorded`. */
  event: string;
  /** Further fields. */
  [k: string]: unknown;
}

/** What {@linkcode runStepJob} returns. */
export interface StepJobOutcome {
  /** `completed` or `failed`. */
  status: "completed" | "failed";
  /** The step's result (outputs, read params, metrics, logs) when it completed. */
  result?: StepTaskResult;
  /** Message of the failure. */
  error?: string;
  /** Where the result object was written (artifact store path). */
  resultPath: string;
}

/** Path of a step's result object in the artifact store. */
export function resultObjectPath(runId: string, step: string): string {
  const safe = (s: string) => s.replace(/[^\w.-]/g, "_");
  return `runs/${safe(runId)}/steps/${safe(step)}.result.json`;
}

/** The step named `name` of `pipeline`, or an error listing the steps. */
export function findStep(pipeline: PipelineSpec, name: string): Step {
  const s = pipeline.steps.find((x) => x.name === name);
  if (!s) {
    throw new FlowymlError(`pipeline "${pipeline.name}" has no step "${name}"`, {
      hint: `steps: ${pipeline.steps.map((x) => x.name).join(", ")}`,
    });
  }
  return s;
}

/**
 * The inputs of `step` in run `runId`: each from the producing step's record in
 * the metadata store, else from its result object in the artifact store.
 */
export async function resolveInputs(
  pipeline: PipelineSpec,
  stack: StackLike,
  options: { runId: string; step: Step },
): Promise<Record<string, ArtifactRef>> {
  const { runId, step } = options;
  if (!step.inputs.length) return {};
  const graph = graphOf(pipeline);
  let records: StepRunRecord[] = [];
  try {
    records = await stack.metadataStore.listStepRuns(runId);
  } catch {
    // The metadata store is unreachable from here: result objects are enough.
  }
  const done = new Map(records.filter((r) => r.outputs).map((r) => [r.step, r.outputs!]));
  const inputs: Record<string, ArtifactRef> = {};
  for (const name of step.inputs) {
    const producer = graph.producer.get(name)!;
    let outs = done.get(producer);
    if (!outs?.[name]) outs = (await readResultObject(stack, runId, producer))?.outputs;
    const ref = outs?.[name];
    if (!ref) {
      throw new FlowymlError(
        `step "${step.name}" of run ${runId}: input "${name}" is missing: step "${producer}" ` +
          "has no completed record and no result object",
        { hint: `run step "${producer}" of this run first (its dependents wait for it)` },
      );
    }
    inputs[name] = ref;
  }
  return inputs;
}

async function readResultObject(
  stack: StackLike,
  runId: string,
  step: string,
): Promise<StepTaskResult | undefined> {
  const path = resultObjectPath(runId, step);
  if (!(await stack.artifactStore.exists(path))) return undefined;
  const doc = JSON.parse(new TextDecoder().decode(await stack.artifactStore.readBytes(path)));
  return doc.status === "completed" ? doc.result as StepTaskResult : undefined;
}

/** Run one step of run `options.runId` on `stack` and report its result. */
export async function runStepJob(
  pipeline: PipelineSpec,
  stack: StackLike,
  options: StepJobOptions & { step: string },
): Promise<StepJobOutcome> {
  const step = findStep(pipeline, options.step);
  const emit = options.onEvent ?? (() => {});
  const record = options.record ?? "metadata";
  const resultPath = resultObjectPath(options.runId, step.name);
  const startedAt = Date.now();
  const task = await buildTask(pipeline, stack, { ...options, step });
  emit({ event: "inputs_resolved", step: step.name, inputs: Object.keys(task.inputs) });
  if (record === "metadata") await ensureRun(pipeline, stack, task);
  let result: StepTaskResult | undefined;
  let error: unknown;
  const logs: string[] = [];
  try {
    result = await runStepTask(step, task, {
      store: stack.artifactStore,
      executor: stack.executor,
      signal: options.signal ?? new AbortController().signal,
      worker: options.worker ?? "step-run",
      stack,
      log: (message) => {
        logs.push(message);
        emit({ event: "step_log", step: step.name, message });
      },
    });
    delete result.values; // values stay in this process; references travel
    if (logs.length) result.logs = logs;
  } catch (err) {
    error = err;
  }
  const endedAt = Date.now();
  const status = result ? "completed" : "failed";
  const doc = result
    ? { status, result, startedAt, endedAt }
    : { status, error: describeError(error), startedAt, endedAt };
  await stack.artifactStore.writeBytes(
    resultPath,
    new TextEncoder().encode(JSON.stringify(doc)),
  );
  if (record === "metadata") {
    await recordOutcome(stack, { task, step, result, error, startedAt, endedAt });
    emit({ event: "recorded", step: step.name, store: stack.metadataStore.name });
  }
  return result
    ? { status: "completed", result, resultPath }
    : { status: "failed", error: describeError(error), resultPath };
}

async function buildTask(
  pipeline: PipelineSpec,
  stack: StackLike,
  options: StepJobOptions & { step: Step },
): Promise<StepTask> {
  const given = options.task ?? {};
  let params = given.params ?? options.params;
  if (!params) {
    const run = await stack.metadataStore.getRun(options.runId).catch(() => undefined);
    params = run?.params ?? {};
  }
  const inputs = given.inputs ??
    await resolveInputs(pipeline, stack, { runId: options.runId, step: options.step });
  return {
    runId: options.runId,
    pipeline: pipeline.name,
    step: options.step.name,
    attempt: given.attempt ?? options.attempt ?? 1,
    params: given.params ? params : visibleParams(options.step, params),
    inputs,
    ...(given.timeoutMs ? { timeoutMs: given.timeoutMs } : {}),
    ...(pipeline.source ? { source: pipeline.source } : {}),
  };
}

/** Create the run record when no driver did (the first step of a run on Vertex, Airflow…). */
async function ensureRun(pipeline: PipelineSpec, stack: StackLike, task: StepTask): Promise<void> {
  const meta = stack.metadataStore;
  if (await meta.getRun(task.runId)) return;
  await meta.createRun({
    runId: task.runId,
    pipeline: pipeline.name,
    status: "running",
    stack: stack.name,
    params: task.params,
    startedAt: Date.now(),
    extra: { driver: "step-run", ...(pipeline.source ? { source: pipeline.source } : {}) },
  }).catch(async (err) => {
    // Another step of the same run created it at the same moment.
    if (!(await meta.getRun(task.runId))) throw err;
  });
}

interface Outcome {
  task: StepTask;
  step: Step;
  result?: StepTaskResult;
  error?: unknown;
  startedAt: number;
  endedAt: number;
}

async function recordOutcome(stack: StackLike, o: Outcome): Promise<void> {
  const { runId } = o.task;
  const base = {
    runId,
    step: o.step.name,
    cached: false,
    attempts: o.task.attempt,
    startedAt: o.startedAt,
    endedAt: o.endedAt,
    durationMs: o.endedAt - o.startedAt,
  };
  if (!o.result) {
    await stack.metadataStore.upsertStepRun({
      ...base,
      status: "failed",
      error: describeError(o.error),
      errorStack: o.error instanceof Error ? o.error.stack : undefined,
    });
    return;
  }
  const { outputs, worker } = o.result;
  const stepRun = { ...base, status: "completed" as const, outputs, worker };
  await stack.metadataStore.recordStepCompletion(
    completionOf({ stepRun, inputs: o.task.inputs, result: o.result }),
  );
}
