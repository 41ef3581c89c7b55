/**
 * `QueueWorker`: the process behind `flowyml worker`. It takes step jobs
 * from BullMQ queues, imports the run's pipeline module by the driver's
 * specifier (refusing a different code version), runs the step with the
 * kernel's `runStepTask` against the shared artifact store, and returns
 * artifact references (with the bytes of small outputs, when the driver asks
 * for them inline: see `inline.ts`). It logs one line per step, keeps a liveness record
 * in Redis (a key with a TTL, renewed by heartbeats) and, on `stop()`, lets
 * running steps finish for a grace period and then hands them back to the
 * queue for another worker.
 *
 * This module is the worker's process lifecycle (connections, heartbeats,
 * slots, cancel messages, stop); running one step job is `step_job.ts`, the
 * liveness records `liveness.ts`.
 * @module
 */
import { DelayedError, type Job, WaitingError, Worker } from "bullmq";
import { Redis } from "ioredis";
import process from "node:process";
import v8 from "node:v8";
import vm from "node:vm";
import { setImmediate } from "node:timers";
import type { StackLike } from "../../kernel/contracts.ts";
import { describeError, FlowymlError, StepTimeoutError } from "../../kernel/errors.ts";
import {
  cancelChannel,
  moduleSpecifier,
  processId,
  type QueueConfig,
  redisConnection,
  type StepJobData,
  type StepJobResult,
  workerKey,
} from "./config.ts";
import { loadPipeline } from "./pipeline_loader.ts";
import { probeRedis } from "./connect.ts";
import { readStoreId } from "./store_id.ts";
import { type CurrentStep, listWorkers, type WorkerInfo } from "./liveness.ts";
import {
  delayRefused,
  failedStepError,
  HANDBACK,
  jobResult,
  Refusal,
  runJobStep,
  stepAbort,
} from "./step_job.ts";

export { type CurrentStep, listWorkers, type WorkerInfo };

/** Options of {@linkcode QueueWorker}. */
export interface QueueWorkerOptions {
  /** Queues to take steps from (default: the config's `queues`, else its `queue`). */
  queues?: string[];
  /** Steps run at once across all queues (default: the config's `concurrency`). */
  concurrency?: number;
  /** Worker id shown in `workers list` and recorded on step runs (default `host:pid`). */
  id?: string;
  /** Where log lines go (default: stdout). */
  log?: (line: string) => void;
}

interface Active extends CurrentStep {
  /** Abort the step (its `ctx.signal`) and stop waiting for it. */
  stop: (reason: unknown) => void;
}

/** Takes step jobs from the queues and runs them. */
export class QueueWorker {
  /** Worker id shown in `workers list` and recorded on step runs (default `host:pid`). */
  readonly id: string;
  /** Queues it takes steps from: the option, else the config's `queues`, else its `queue`. */
  readonly queues: string[];
  /** Steps it runs at once across all its queues. */
  readonly concurrency: number;
  /** The queue orchestrator config it was started with (Redis, prefix, locks, heartbeat…). */
  readonly config: QueueConfig;
  /**
   * The stack steps run on: its executor runs them, its artifact store (which must be the
   * driver's) holds their outputs.
   */
  readonly stack: StackLike;
  #log: (line: string) => void;
  #workers: Worker[] = [];
  #active = new Map<string, Active>();
  #redis?: Redis;
  #sub?: Redis;
  #beat?: ReturnType<typeof setInterval>;
  #dirty?: ReturnType<typeof setTimeout>;
  #started = Date.now();
  #stats = { done: 0, failed: 0, handedBack: 0, refused: 0 };
  #storeId?: string;
  #stopping?: Promise<void>;
  #draining = false;
  #stopped = false;
  #slots: number;
  #slotWaiters: (() => void)[] = [];

  /** A worker for `stack` with a parsed queue config; nothing connects until {@linkcode start}. */
  constructor(stack: StackLike, config: QueueConfig, options: QueueWorkerOptions = {}) {
    this.stack = stack;
    this.config = config;
    this.queues = options.queues?.length ? options.queues : (config.queues ?? [config.queue]);
    this.concurrency = options.concurrency ?? config.concurrency;
    this.id = options.id ?? processId();
    this.#slots = this.concurrency;
    this.#log = options.log ?? stdoutLines();
  }

  /** Connect, announce liveness and start taking steps. */
  async start(): Promise<void> {
    // A Redis that cannot be reached fails the start within seconds (retries are for outages).
    await probeRedis(this.config.redis);
    // Preloaded modules are imported before any step is taken.
    for (const m of this.config.preload ?? []) await loadPipeline(moduleSpecifier(m));
    // The store's identity token, compared with the driver's on each step (see store_id.ts).
    this.#storeId = await readStoreId(this.stack.artifactStore);
    collectStartupGarbage();
    const conn = redisConnection(this.config.redis);
    this.#redis = new Redis(conn);
    this.#redis.on("error", () => {}); // ioredis reconnects; heartbeats resume then
    this.#sub = new Redis(conn);
    this.#sub.on("error", () => {});
    this.#sub.on("message", (_ch: string, msg: string) => this.#onCancel(msg));
    await this.#sub.subscribe(cancelChannel(this.config.prefix));
    for (const q of this.queues) {
      const w = new Worker<StepJobData, StepJobResult>(
        q,
        // Two parameters: BullMQ makes an AbortController per job only for a processor taking a
        // third (its signal fires on Worker.cancelJob, which flowyml does not use: drivers
        // cancel through the cancel channel, see #onCancel).
        (job, token) => this.#process(job, token),
        {
          connection: conn,
          prefix: this.config.prefix,
          concurrency: this.concurrency,
          lockDuration: this.config.lockDurationMs,
          stalledInterval: this.config.stalledIntervalMs,
          maxStalledCount: this.config.maxStalledCount,
          drainDelay: 1,
          name: this.id,
        },
      );
      let last = 0;
      w.on("error", (e) => {
        if (Date.now() - last < 5_000) return; // one line per outage, not per reconnect attempt
        last = Date.now();
        this.#log(`${ts()} ${this.id} redis error on queue ${q}: ${describeError(e)}`);
      });
      this.#workers.push(w);
    }
    await Promise.all(this.#workers.map((w) => w.waitUntilReady()));
    await this.#heartbeat();
    this.#beat = setInterval(() => this.#heartbeat().catch(() => {}), this.config.heartbeatMs);
    this.#log(
      `${ts()} ${this.id} worker started: queues=${
        this.queues.join(",")
      } concurrency=${this.concurrency} ` +
        `stack=${this.stack.name} lock=${this.config.lockDurationMs}ms` +
        (this.#storeId ? ` store=${this.#storeId.slice(0, 8)}` : ""),
    );
  }

  /** Steps running now. */
  current(): CurrentStep[] {
    return [...this.#active.values()].map(({ stop: _, ...c }) => c);
  }

  /** This worker's liveness record. */
  info(): WorkerInfo {
    return {
      id: this.id,
      pid: Deno.pid,
      queues: this.queues,
      concurrency: this.concurrency,
      state: this.#draining ? "draining" : "running",
      startedAt: this.#started,
      heartbeatAt: Date.now(),
      ...this.#stats,
      steps: this.current(),
    };
  }

  async #heartbeat(): Promise<void> {
    if (!this.#redis || this.#stopped) return;
    const ttl = this.config.heartbeatMs * 3;
    await this.#redis.set(
      workerKey(this.config.prefix, this.id),
      JSON.stringify(this.info()),
      "PX",
      ttl,
    );
  }

  /** Publish the liveness record soon (coalesces bursts of step changes). */
  #touch(): void {
    this.#dirty ??= setTimeout(() => {
      this.#dirty = undefined;
      this.#heartbeat().catch(() => {});
    }, 100);
  }

  #onCancel(msg: string): void {
    try {
      const { jobId, reason } = JSON.parse(msg) as { jobId: string; reason?: string };
      const a = this.#active.get(jobId);
      if (a) {
        a.stop(
          new FlowymlError(
            `step "${a.step}" was cancelled by its driver: ${reason ?? "no reason"}`,
          ),
        );
      }
    } catch {
      // not ours
    }
  }

  async #slot(): Promise<void> {
    if (this.queues.length === 1) return; // BullMQ's own concurrency bounds one queue
    if (this.#slots > 0) {
      this.#slots--;
      return;
    }
    await new Promise<void>((r) => this.#slotWaiters.push(r));
  }

  #release(): void {
    if (this.queues.length === 1) return;
    const next = this.#slotWaiters.shift();
    if (next) next();
    else this.#slots++;
  }

  /**
   * Hand a refused step back to the queue (delayed a little, so another worker takes it) without
   * spending an attempt; once every live worker of its queue has refused it, it fails.
   */
  async #refuse(job: Job<StepJobData>, token: string | undefined, err: Refusal): Promise<never> {
    const redis = this.#redis;
    const live = async () =>
      redis ? await listWorkers(redis, this.config.prefix).catch(() => []) : [];
    await delayRefused(job, token, err, this.id, live);
    this.#stats.refused++;
    throw new DelayedError();
  }

  /** Refuse a step whose driver uses another artifact store than this worker. */
  async #checkStore(d: StepJobData): Promise<void> {
    if (!d.storeId || d.storeId === this.#storeId) return;
    this.#storeId = await readStoreId(this.stack.artifactStore); // the driver may have just made it
    if (d.storeId === this.#storeId) return;
    throw new Refusal(
      `worker ${this.id} refuses step "${d.task.step}": its artifact store ` +
        `(${this.stack.artifactStore.uriFor("")}) is not the driver's (store id ` +
        `${this.#storeId?.slice(0, 8) ?? "none"}, driver ${d.storeId.slice(0, 8)}); ` +
        "outputs written here could not be read by the others",
      { hint: "give this worker the same artifact_store as the driver in flowyml.yaml" },
    );
  }

  async #handBack(job: Job<StepJobData>, token: string | undefined): Promise<never> {
    await job.moveToWait(token);
    this.#stats.handedBack++;
    throw new WaitingError();
  }

  async #process(
    job: Job<StepJobData>,
    token: string | undefined,
  ): Promise<StepJobResult> {
    const d = job.data;
    const task = d.task.source ? d.task : { ...d.task, source: d.source };
    if (this.#draining) return await this.#handBack(job, token);
    await this.#slot();
    const t0 = performance.now();
    const abort = stepAbort();
    const a: Active = {
      jobId: job.id!,
      runId: task.runId,
      step: task.step,
      attempt: task.attempt,
      since: Date.now(),
      stop: abort.stop,
    };
    this.#active.set(a.jobId, a);
    this.#touch();
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (task.timeoutMs) {
      timer = setTimeout(
        () => abort.stop(new StepTimeoutError(task.step, task.timeoutMs!)),
        task.timeoutMs,
      );
    }
    const line = (status: string, extra = "") =>
      this.#log(
        `${ts()} ${this.id} ${status} run=${task.runId} step=${task.step} attempt=${task.attempt} ` +
          `${Math.round(performance.now() - t0)}ms${extra}`,
      );
    try {
      const ran = await runJobStep(
        d,
        task,
        {
          id: this.id,
          stack: this.stack,
          log: (m) => this.#log(`${ts()} ${this.id} [${task.runId} ${task.step}] ${m}`),
          checkStore: (d) => this.#checkStore(d),
        },
        abort,
        t0,
      );
      this.#stats.done++;
      line("ok");
      return jobResult(d, ran, this.id);
    } catch (err) {
      if (abort.signal.reason === HANDBACK) {
        line("handed-back");
        return await this.#handBack(job, token);
      }
      if (err instanceof Refusal) {
        line("refused", ` error=${JSON.stringify(err.message)}`);
        await this.#refuse(job, token, err).catch((e) => {
          if (e !== err) throw e; // handed back (DelayedError), or Redis trouble
        });
      }
      this.#stats.failed++;
      line("failed", ` error=${JSON.stringify(describeError(err).split("\n")[0])}`);
      throw failedStepError(err, task.step, this.id);
    } finally {
      clearTimeout(timer);
      this.#active.delete(a.jobId);
      this.#release();
      this.#touch();
    }
  }

  /**
   * Stop taking steps; let running ones finish for `graceMs` (default: the
   * config's `graceMs`), then hand the rest back to the queue. Resolves once
   * every BullMQ worker is closed and the liveness record is removed.
   */
  stop(options: { graceMs?: number } = {}): Promise<void> {
    if (this.#stopping) {
      // A second stop hands running steps back at once.
      for (const a of this.#active.values()) a.stop(HANDBACK);
      return this.#stopping;
    }
    this.#stopping = (async () => {
      this.#draining = true;
      const grace = options.graceMs ?? this.config.graceMs;
      if (this.#active.size) {
        this.#log(
          `${ts()} ${this.id} stopping: ${this.#active.size} step(s) running, grace ${grace}ms`,
        );
      }
      await this.#heartbeat().catch(() => {});
      const timer = setTimeout(() => {
        for (const a of this.#active.values()) a.stop(HANDBACK);
      }, grace);
      await Promise.all(this.#workers.map((w) => w.close()));
      clearTimeout(timer);
      clearInterval(this.#beat);
      clearTimeout(this.#dirty);
      this.#stopped = true;
      await this.#redis?.del(workerKey(this.config.prefix, this.id)).catch(() => {});
      await this.#redis?.quit().catch(() => {});
      await this.#sub?.quit().catch(() => {});
      this.#log(
        `${ts()} ${this.id} worker stopped: ${this.#stats.done} done, ${this.#stats.failed} failed, ` +
          `${this.#stats.handedBack} handed back, ${this.#stats.refused} refused, cpu ${cpuMs()} ms`,
      );
      await new Promise((r) => setImmediate(r)); // buffered log lines are written by now
    })();
    return this.#stopping;
  }
}

/**
 * A logger writing lines to stdout, one write per event-loop turn rather than
 * one per line (a busy worker logs hundreds of steps a second).
 */
function stdoutLines(): (line: string) => void {
  let lines: string[] = [];
  const enc = new TextEncoder();
  const flush = () => {
    const bytes = enc.encode(lines.join(""));
    lines = [];
    for (let off = 0; off < bytes.length;) off += Deno.stdout.writeSync(bytes.subarray(off));
  };
  return (line) => {
    if (lines.push(`${line}\n`) === 1) setImmediate(flush);
  };
}

/**
 * One full garbage collection before the first step: the start-up's garbage (module graph,
 * preloaded pipelines and their code identities) is collected now rather than by a
 * mark-compact during the first steps (the queue bench's workers spent ≈ 45 ms less CPU on
 * their first 1,000 steps). `gc` is exposed only for this: the flag is set, a context is made
 * to fetch the function, and the flag is cleared, so no other context (steps, Web Workers)
 * sees a `gc` global. Where V8 refuses, nothing happens.
 */
function collectStartupGarbage(): void {
  try {
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc") as () => void;
    v8.setFlagsFromString("--no-expose-gc");
    gc();
  } catch {
    // no gc: the first steps pay for it, as before
  }
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return Math.round((u.user + u.system) / 1000);
}

function ts(): string {
  return new Date().toISOString();
}
