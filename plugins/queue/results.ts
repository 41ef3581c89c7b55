/**
 * The results of the queue driver's step jobs: a step attempt waits for its
 * job (a {@linkcode Waiter}), which is settled by the queue's `completed` /
 * `failed` events, by the watchdog's re-check of jobs whose events were lost
 * (a job that vanished is submitted again), or, in a resumed run, by adopting
 * the job an earlier driver queued. A completed job's output references are
 * expanded and its inline outputs checked and staged in the driver's
 * metadata store; a failed one becomes a {@linkcode RemoteStepError} with the
 * worker's stack. Submitting jobs is the orchestrator's (orchestrator.ts).
 * @module
 */
import type { Job, Queue } from "bullmq";
import type { ArtifactStore, RunPipelineOptions } from "../../kernel/contracts.ts";
import { describeError } from "../../kernel/errors.ts";
import type { BlobStore } from "../../kernel/artifacts.ts";
import type { StepTaskResult } from "../../kernel/step_runner.ts";
import { hasOutputBlobs, stageOutputBlobs } from "./inline.ts";
import {
  expandRefs,
  refBlobs,
  type RefUris,
  type StepJobData,
  type StepJobResult,
} from "./config.ts";

/** A step attempt that failed on a worker; `stack` is the worker's stack trace. */
export class RemoteStepError extends Error {
  /** Worker that ran it, when known. */
  readonly worker?: string;
  /** `stack`, when given, replaces this error's own stack trace (it is the worker's). */
  constructor(message: string, stack: string | undefined, worker?: string) {
    super(message);
    this.name = "RemoteStepError";
    this.worker = worker;
    if (stack) this.stack = stack;
  }
}

/** What a run's jobs share: its module and code version, and its stores. */
export interface RunContext {
  source: string;
  uris: RefUris;
  /** The driver's metadata store: inline inputs are read from it, inline outputs staged in it. */
  meta: BlobStore;
  /** Largest output a worker returns inline (0: none). */
  inlineMax: number;
  hash: string;
  codeHash: string;
  storeId?: string;
  resources: RunPipelineOptions["resources"];
  /** A resumed run: jobs of an earlier driver with the same ids are adopted. */
  resumed?: { store: ArtifactStore };
}

/** A step attempt waiting for its job's result. */
export interface Waiter {
  jobId: string;
  queue: string;
  data: StepJobData;
  submitted: boolean;
  checkedAt: number;
  /** The run's stores: URIs to expand compact output references, blobs for inline outputs. */
  run: RunContext;
  resolve: (r: StepTaskResult) => void;
  reject: (e: unknown) => void;
}

/** What result handling needs of its orchestrator. */
export interface ResultsHost {
  /** The waiting step attempts, by job id (a settled one is removed). */
  readonly waiters: Map<string, Waiter>;
  /** How long a submitted job goes unchecked, in ms. */
  readonly pollMs: number;
  /** The queue named `name`, connected. */
  queue(name: string): Promise<Queue>;
  /** Submit a waiter's job (again). */
  submit(w: Waiter): void;
  /** Log a driver-side warning. */
  warn(message: string): void;
  /** Bumped when connections are released: work started before then stops touching Redis. */
  generation(): number;
  /** Whether the orchestrator is closed for good. */
  closed(): boolean;
}

/** Settles waiters with their jobs' results. */
export class JobResults {
  readonly #host: ResultsHost;
  #checking = false;

  constructor(host: ResultsHost) {
    this.#host = host;
  }

  /** Resolve a waiter with its completed job's result (`ret`: as returned, or as JSON). */
  settle(w: Waiter, ret: StepJobResult | string): void {
    if (!this.#host.waiters.delete(w.jobId)) return;
    const r: StepJobResult = typeof ret === "string" ? JSON.parse(ret) : ret;
    const outputs = expandRefs(r.outputs, w.run.uris);
    try {
      stageOutputBlobs(outputs, refBlobs(r), { meta: w.run.meta, step: w.data.task.step });
    } catch (err) {
      return w.reject(err);
    }
    w.resolve({
      outputs,
      readParams: r.readParams,
      worker: r.worker,
      ...(r.metrics ? { metrics: r.metrics } : {}),
      ...(r.logs?.length ? { logs: r.logs } : {}),
    });
  }

  /** Reject a waiter whose job failed, with the worker's stack trace when it can be read. */
  async fail(w: Waiter, reason: string, job?: Job): Promise<void> {
    const waiters = this.#host.waiters;
    if (!waiters.has(w.jobId)) return;
    let stack: string | undefined;
    let worker: string | undefined;
    try {
      job ??= await (await this.#host.queue(w.queue)).getJob(w.jobId);
      const traces = job?.stacktrace ?? [];
      stack = traces[traces.length - 1] ?? undefined;
      worker = /on flowyml worker (\S+)/.exec(stack ?? "")?.[1];
    } catch {
      // The reason alone still explains the failure.
    }
    if (!waiters.delete(w.jobId)) return;
    w.reject(new RemoteStepError(reason, stack, worker));
  }

  /** Re-check jobs whose events may have been lost (e.g. Redis restarted without persistence). */
  async check(): Promise<void> {
    if (this.#checking) return;
    this.#checking = true;
    try {
      await this.#checkAll();
    } finally {
      this.#checking = false;
    }
  }

  async #checkAll(): Promise<void> {
    const host = this.#host;
    const now = Date.now();
    const gen = host.generation();
    for (const w of [...host.waiters.values()]) {
      // A waiter settled meanwhile, or connections released: stop, never reopen them.
      if (gen !== host.generation() || host.closed()) return;
      if (!host.waiters.has(w.jobId)) continue;
      if (!w.submitted || now - w.checkedAt < host.pollMs) continue;
      w.checkedAt = now;
      try {
        const queue = await host.queue(w.queue);
        const job = await queue.getJob(w.jobId);
        if (!job) {
          host.warn(
            `step ${w.data.task.step} (job ${w.jobId}) vanished from Redis; submitting it again`,
          );
          w.submitted = false;
          host.submit(w);
          continue;
        }
        const state = await job.getState();
        if (state === "completed") this.settle(w, job.returnvalue as StepJobResult);
        else if (state === "failed") await this.fail(w, job.failedReason, job);
      } catch (err) {
        if (gen === host.generation() && host.waiters.has(w.jobId)) {
          host.warn(`checking job ${w.jobId} failed: ${describeError(err)}`);
        }
      }
    }
  }

  /**
   * A resumed run's step attempt whose job an earlier driver already queued: a waiting or running
   * job is waited for (not run twice), a completed one is taken when its outputs still exist in
   * the store, and a failed or unusable one is removed and submitted afresh.
   */
  async adopt(w: Waiter, store: ArtifactStore): Promise<void> {
    const job = await (await this.#host.queue(w.queue)).getJob(w.jobId);
    if (!job) return this.#host.submit(w);
    const state = await job.getState();
    if (state === "completed") {
      const r = job.returnvalue as StepJobResult;
      const outputs = expandRefs(r.outputs ?? {}, w.run.uris);
      const refs = Object.values(outputs).filter((o) => !o.inline);
      const present = await Promise.all(refs.map((o) => store.exists(o.path)));
      if (present.every(Boolean) && hasOutputBlobs(outputs, refBlobs(r))) {
        w.submitted = true;
        return this.settle(w, r);
      }
    } else if (state !== "failed" && state !== "unknown") {
      w.submitted = true; // waiting, delayed or active: its result arrives as an event
      w.checkedAt = Date.now();
      return;
    }
    await job.remove().catch(() => {});
    this.#host.submit(w);
  }
}
