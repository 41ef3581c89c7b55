/**
 * One step job on a queue worker: importing the run's pipeline module and
 * refusing a different code version, running the step with the kernel's
 * `runStepTask` until it ends or is aborted (cancel, timeout, hand-back),
 * the job's result (artifact references, inline outputs, logs), handing a
 * refused step back to the queue, and the error a failed step reports.
 * The worker's process lifecycle (connections, heartbeats, slots, stop) is
 * in worker.ts.
 * @module
 */
import type { Job } from "bullmq";
import type { StackLike } from "../../kernel/contracts.ts";
import { FlowymlError } from "../../kernel/errors.ts";
import { permissionCause } from "../../kernel/permissions.ts";
import { checkDeadline } from "../../kernel/timeouts.ts";
import { runStepTask, type StepTask, type StepTaskResult } from "../../kernel/step_runner.ts";
import {
  compactRefs,
  MAX_RETURNED_LOG_LINES,
  type StepJobData,
  type StepJobResult,
} from "./config.ts";
import { type JobBlobs, jobBlobs } from "./inline.ts";
import type { WorkerInfo } from "./liveness.ts";
import { loadPipeline } from "./pipeline_loader.ts";

/**
 * A step this worker must not run (stale code, another artifact store): it
 * goes back to the queue for another worker, without spending an attempt.
 */
export class Refusal extends FlowymlError {}

/** Refusals of one step after which it fails anyway (a bound on ping-pong). */
const MAX_REFUSALS = 50;

/** The abort reason of a step handed back to the queue (a worker stopping). */
export const HANDBACK: unique symbol = Symbol("handback");

/** A step's abort: `stop(reason)` aborts `signal` and rejects `aborted` (no listener per step). */
export interface StepAbort {
  signal: AbortSignal;
  /** Rejects with the abort reason once `stop` is called. */
  aborted: Promise<never>;
  stop: (reason: unknown) => void;
}

/** A new {@linkcode StepAbort}. */
export function stepAbort(): StepAbort {
  const ctl = new AbortController();
  // Every abort goes through stop(), which also ends the wait for the step: no listener per step.
  let endWait: (reason: unknown) => void = () => {};
  const aborted = new Promise<never>((_, reject) => endWait = reject);
  aborted.catch(() => {});
  const stop = (reason: unknown) => {
    if (!ctl.signal.aborted) ctl.abort(reason);
    endWait(ctl.signal.reason);
  };
  return { signal: ctl.signal, aborted, stop };
}

/** What running a job needs of its worker. */
export interface JobWorker {
  readonly id: string;
  readonly stack: StackLike;
  /** Log a line of the step. */
  log: (message: string) => void;
  /** Throws a {@linkcode Refusal} when the driver uses another artifact store. */
  checkStore: (d: StepJobData) => Promise<void>;
}

/** A step that ran on this worker: its result, the log lines to return, its job's blobs. */
export interface RanStep {
  res: StepTaskResult;
  logs: string[];
  blobs: JobBlobs;
}

/**
 * Run job `d`'s step `task`: import its pipeline (refusing another code
 * version or artifact store), then run the step until it ends or `abort`
 * stops it. `t0` is when the worker took the job (for the deadline check).
 */
export async function runJobStep(
  d: StepJobData,
  task: StepTask,
  w: JobWorker,
  abort: StepAbort,
  t0: number,
): Promise<RanStep> {
  const { pipeline, hash, codeHash, steps } = await loadPipeline(d.source);
  // The code version covers the module graph of the step cache key, not only the module.
  const [mine, theirs] = d.codeHash ? [codeHash, d.codeHash] : [hash, d.pipelineHash ?? "none"];
  if (mine !== theirs) {
    throw new Refusal(
      `worker ${w.id} refuses step "${task.step}": its pipeline module ${d.source} has hash ` +
        `${mine.slice(0, 12)}, but run ${task.runId} was started with ${
          theirs.slice(0, 12)
        } (the steps' code, or a local module they import, differs)`,
      { hint: "deploy the driver's code version to this worker and restart `flowyml worker`" },
    );
  }
  await w.checkStore(d);
  const step = steps.get(task.step);
  if (!step) {
    throw new FlowymlError(`pipeline "${pipeline.name}" in ${d.source} has no step "${task.step}"`);
  }
  const logs: string[] = [];
  const blobs = jobBlobs(d);
  const res = await Promise.race([
    runStepTask(step, task, {
      store: w.stack.artifactStore,
      executor: w.stack.executor,
      signal: abort.signal,
      worker: w.id,
      stack: w.stack, // sandboxed plugin steps reach the stores through it
      inline: blobs, // inline inputs come with the job, small outputs go back with the result
      log: (m) => {
        w.log(m);
        logs.push(m.length > 2000 ? `${m.slice(0, 2000)}…` : m);
        if (logs.length > MAX_RETURNED_LOG_LINES) logs.shift();
      },
    }),
    abort.aborted,
  ]);
  // A step that blocked this worker's event loop past its deadline returns late: a timeout.
  checkDeadline(task.step, task.timeoutMs, { t0, executor: w.stack.executor.name });
  return { res, logs, blobs };
}

/** The job's result of a step that ran on worker `worker`. */
export function jobResult(d: StepJobData, ran: RanStep, worker: string): StepJobResult {
  const { res, logs, blobs } = ran;
  // A driver of payload v2 takes inline outputs' bytes in their references (smaller results).
  const v2 = d.v >= 2;
  return {
    outputs: compactRefs(res.outputs, v2 ? blobs.out : undefined),
    readParams: res.readParams,
    worker,
    ...(res.metrics ? { metrics: res.metrics } : {}),
    ...(logs.length ? { logs } : {}),
    ...(!v2 && Object.keys(blobs.out).length ? { blobs: blobs.out } : {}),
  };
}

/**
 * Hand a step refused by worker `worker` back to the queue, delayed a little
 * so another worker takes it, without spending an attempt. Rejects with
 * `err` instead once every live worker of its queue (from `live`) has
 * refused it, or after too many refusals: then it fails.
 */
export async function delayRefused(
  job: Job<StepJobData>,
  token: string | undefined,
  err: Refusal,
  worker: string,
  live: () => Promise<WorkerInfo[]>,
): Promise<void> {
  const d = job.data;
  const refusedBy = [...new Set([...(d.refusedBy ?? []), worker])];
  const refusals = (d.refusals ?? 0) + 1;
  const serving = (await live()).filter((w) =>
    w.state === "running" && w.queues.includes(job.queueName)
  );
  const allRefused = serving.length > 0 && serving.every((w) => refusedBy.includes(w.id));
  if (refusals >= MAX_REFUSALS || allRefused) throw err;
  await job.updateData({ ...d, refusedBy, refusals });
  await job.moveToDelayed(Date.now() + Math.min(100 * refusals, 1_000), token);
}

/**
 * The error a step that failed on worker `worker` reports: a Deno permission
 * error named with its `--grant`, its stack ending with the worker's id.
 */
export function failedStepError(err: unknown, step: string, worker: string): Error {
  const explained = explainStepPermission(err, step, worker);
  const e = explained instanceof Error ? explained : new Error(String(explained));
  e.stack = `${e.stack ?? `${e.name}: ${e.message}`}\n    on flowyml worker ${worker}`;
  return e;
}

/**
 * A Deno permission error of a step (or one of its causes) as an error naming
 * the exact flag and the `flowyml worker --grant` that adds it; else `err`.
 */
function explainStepPermission(err: unknown, step: string, worker: string): unknown {
  const access = permissionCause(err)?.access;
  if (!access) return err;
  const grant = access.resource ? `${access.kind}=${access.resource}` : access.kind;
  return new FlowymlError(
    `step "${step}" on flowyml worker ${worker} needs ${access.kind} access` +
      `${access.resource ? ` to "${access.resource}"` : ""}, which the worker's permission set ` +
      `lacks (Deno flag ${access.flag})`,
    {
      hint: `start the worker with \`flowyml worker --grant ${grant}\` (adds ${access.flag} ` +
        "to its step process), or with --inherit-permissions",
      cause: err,
    },
  );
}
