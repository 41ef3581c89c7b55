/**
 * `QueueOrchestrator` (`type: queue`): the driver side of scale-out. The
 * kernel's engine schedules the DAG (cache, retries with backoff, timeouts,
 * metadata); each ready step attempt is submitted as one BullMQ job and the
 * driver waits for its result. Workers (`flowyml worker`, see `worker.ts`)
 * run it and store outputs in the shared artifact store; only references
 * travel through Redis, plus the bytes of small outputs, which the driver
 * stores inline in its metadata store with the step's record (`inline.ts`).
 *
 * Retries belong to the engine: every job has BullMQ `attempts: 1`, and an
 * engine retry is a new job. A worker that dies mid-step is not an attempt:
 * BullMQ's stall check puts its job back for another worker.
 *
 * This module submits the jobs and holds the driver's Redis connections;
 * settling each step attempt with its job's result (events, the watchdog's
 * re-check, adoption on resume) is `results.ts`.
 * @module
 */
import { Queue, QueueEvents } from "bullmq";
import { Redis } from "ioredis";
import type { RunPipelineOptions } from "../../kernel/contracts.ts";
import type { PermissionNeeds } from "../../kernel/component.ts";
import type { Schema } from "../../kernel/schema.ts";
import { componentConfig } from "../../kernel/registry.ts";
import { EngineOrchestrator, type RunHooks } from "../../kernel/engine_orchestrator.ts";
import { ComponentError, describeError, FlowymlError } from "../../kernel/errors.ts";
import { pipelineHash, type PipelineSpec } from "../../kernel/graph.ts";
import { inputBlobs } from "./inline.ts";
import { probeRedis } from "./connect.ts";
import { pipelineCodeHash } from "./pipeline_loader.ts";
import { ensureStoreId } from "./store_id.ts";
import type { Step } from "../../kernel/step.ts";
import type { StepTask, StepTaskResult } from "../../kernel/step_runner.ts";
import {
  cancelChannel,
  processId,
  type QueueConfig,
  queueFor,
  queueOrchestratorSchema,
  redactRedisUrl,
  redisConnection,
  type StepJobData,
  type StepJobResult,
} from "./config.ts";
import { JobResults, RemoteStepError, type RunContext, type Waiter } from "./results.ts";

export { queueOrchestratorSchema, RemoteStepError };

/** Jobs submitted in one `addBulk` at most; a full chunk is submitted at once. */
const SUBMIT_CHUNK = 64;

/** The Redis server's current time, less 1 ms, as an event stream id (read through `queue`). */
async function serverTimeId(queue: Queue): Promise<string> {
  const client = (await queue.client) as unknown as Redis; // ioredis: BullMQ made it from options
  const [s, us] = await client.time();
  return `${Number(s) * 1000 + Math.floor(Number(us) / 1000) - 1}-0`;
}

/** Runs pipelines by submitting their steps to BullMQ queues served by `flowyml worker`. */
export class QueueOrchestrator extends EngineOrchestrator {
  /** The `type:` of this orchestrator in flowyml.yaml. */
  static readonly type = "queue";
  /** Validates a `type: queue` config before the orchestrator is built. */
  static readonly configSchema: Schema<QueueConfig> = queueOrchestratorSchema;
  /** Parsed config (workers read it too). */
  readonly config: QueueConfig;
  #queues = new Map<string, Promise<Queue>>();
  #events = new Map<string, QueueEvents>();
  #waiters = new Map<string, Waiter>();
  #batch = new Map<string, Waiter[]>();
  #watchdog?: ReturnType<typeof setInterval>;
  #active = 0;
  /** Bumped when connections are released: work started before then stops touching Redis. */
  #generation = 0;
  #probed = -1;
  #closed = false;
  #checking = false;
  #warned = new Map<string, number>();
  #redis?: Redis;
  #driver = processId();
  /** Settles the waiters with their jobs' results. */
  #results: JobResults;

  /**
   * Parse `options` (defaults applied; a config the registry already validated is taken as is).
   * Redis is not contacted here: a run, `validate()` or {@linkcode client} connects.
   */
  constructor(options: Partial<QueueConfig> & { name?: string } = {}) {
    super(options.name ?? "queue", {
      owner: "queue orchestrator",
      hint: "use `flowyml runs show <id>`, or `flowyml runs resume <id>` to continue it",
    });
    this.config = componentConfig(queueOrchestratorSchema, options);
    this.#results = new JobResults({
      waiters: this.#waiters,
      pollMs: this.config.pollMs,
      queue: (name) => this.#queue(name),
      submit: (w) => this.#submit(w),
      warn: (message) => this.warn(message),
      generation: () => this.#generation,
      closed: () => this.#closed,
    });
  }

  /** Log a driver-side warning (Redis trouble, resubmissions); a repeat within 5 s is dropped. */
  warn(message: string): void {
    const now = Date.now();
    if (now - (this.#warned.get(message) ?? 0) < 5_000) return;
    this.#warned.set(message, now);
    if (this.#warned.size > 100) this.#warned.clear();
    console.warn(`[queue ${this.name}] ${message}`);
  }

  #queue(name: string): Promise<Queue> {
    let q = this.#queues.get(name);
    if (!q) {
      if (this.#closed) return Promise.reject(this.#closedError());
      const generation = this.#generation;
      q = (async () => {
        const queue = new Queue(name, {
          connection: redisConnection(this.config.redis),
          prefix: this.config.prefix,
        });
        queue.on("error", (e) => this.warn(`Redis error on queue ${name}: ${describeError(e)}`));
        await queue.waitUntilReady();
        const since = await serverTimeId(queue);
        // Released while connecting (the run ended first, e.g. a resume with nothing left to
        // run): #release() closes this queue and no event reader may outlive it (its blocking
        // read would hold the process open).
        if (generation === this.#generation && !this.#events.has(name)) this.#listen(name, since);
        return queue;
      })();
      this.#queues.set(name, q);
    }
    return q;
  }

  /**
   * Read the queue's event stream from stream id `since` (taken before any job of this driver
   * was added to it). Jobs need not wait for the reader to be ready: the events stay in the
   * stream until it reads them (and the watchdog re-checks jobs whose events it missed).
   */
  #listen(name: string, since: string): void {
    const ev = new QueueEvents(name, {
      connection: redisConnection(this.config.redis),
      prefix: this.config.prefix,
      lastEventId: since,
    });
    ev.on("error", (e) => this.warn(`Redis error on events of ${name}: ${describeError(e)}`));
    ev.on("completed", ({ jobId, returnvalue }) => {
      const w = this.#waiters.get(jobId);
      if (w) this.#results.settle(w, returnvalue as unknown as StepJobResult);
    });
    ev.on("failed", ({ jobId, failedReason }) => {
      const w = this.#waiters.get(jobId);
      if (w) this.#results.fail(w, failedReason).catch(() => {});
    });
    this.#events.set(name, ev);
  }

  /**
   * Submit the pending jobs of queue `name` in one `addBulk`. Several may be under way at once
   * (one per chunk, in order on the connection); a chunk that fails is submitted again in 1 s.
   */
  async #send(name: string): Promise<void> {
    const list = this.#batch.get(name);
    if (!list) return;
    this.#batch.delete(name);
    const live = list.filter((w) => this.#waiters.has(w.jobId));
    if (!live.length) return;
    try {
      const queue = await this.#queue(name);
      await queue.addBulk(
        live.map((w) => ({ name: w.data.task.step, data: w.data, opts: this.#jobOpts(w) })),
      );
      const now = Date.now();
      for (const w of live) {
        w.submitted = true;
        w.checkedAt = now;
      }
    } catch (err) {
      this.warn(
        `submitting ${live.length} step(s) to queue ${name} failed (${
          describeError(err)
        }); retrying`,
      );
      await new Promise((r) => setTimeout(r, 1_000));
      for (const w of live) this.#submit(w);
    }
  }

  #jobOpts(w: Waiter) {
    return {
      jobId: w.jobId,
      attempts: 1,
      removeOnComplete: { age: this.config.keepCompletedS },
      removeOnFail: { age: this.config.keepCompletedS * 7 },
      stackTraceLimit: 3,
    };
  }

  #submit(w: Waiter): void {
    const list = this.#batch.get(w.queue) ?? [];
    list.push(w);
    this.#batch.set(w.queue, list);
    // A full chunk goes at once, so workers start while the driver still prepares later steps
    // (a run starting 1,000 steps would otherwise submit nothing until all were prepared).
    if (list.length >= SUBMIT_CHUNK) this.#send(w.queue).catch(() => {});
    else if (list.length === 1) setTimeout(() => this.#send(w.queue).catch(() => {}), 0);
  }

  /** Submit one step attempt and wait for its result. */
  #dispatch(
    task: StepTask,
    step: Step,
    signal: AbortSignal,
    run: RunContext,
  ): Promise<StepTaskResult> {
    const { source, hash, resources } = run;
    const queue = queueFor(step.options.resources ?? resources, this.config.queue);
    // Derived from (run, step, attempt) only: a resumed driver adopts the jobs already queued.
    const jobId = `${task.runId}|${task.step}|${task.attempt}`;
    const { source: _, ...bare } = task; // the job's `source` says it once
    const data: StepJobData = {
      v: 2,
      task: bare,
      source,
      // The code hash covers the pipeline hash: a worker compares one of them.
      ...(run.codeHash ? { codeHash: run.codeHash } : { pipelineHash: hash }),
      ...(run.storeId ? { storeId: run.storeId } : {}),
      driver: this.#driver,
      ...(run.inlineMax ? { inlineMax: run.inlineMax } : {}),
    };
    return new Promise<StepTaskResult>((resolve, reject) => {
      const w: Waiter = {
        jobId,
        queue,
        data,
        submitted: false,
        checkedAt: Date.now(),
        run,
        resolve,
        reject,
      };
      this.#waiters.set(jobId, w);
      signal.addEventListener("abort", () => {
        if (!this.#waiters.delete(jobId)) return;
        reject(signal.reason);
        this.#cancel(w, describeError(signal.reason)).catch(() => {});
      }, { once: true });
      this.#start(w, task).catch((err) => {
        if (this.#waiters.delete(jobId)) reject(err); // its inline inputs could not be read
      });
      this.#watchdog ??= setInterval(() => {
        if (this.#waiters.size) this.#results.check();
      }, Math.max(250, Math.floor(this.config.pollMs / 2)));
      Deno.unrefTimer(this.#watchdog);
    });
  }

  /** Submit (or adopt) a waiter's job once the bytes of its inline inputs are attached. */
  async #start(w: Waiter, task: StepTask): Promise<void> {
    const blobs = await inputBlobs(task.inputs, w.run.meta);
    if (blobs) w.data.blobs = blobs;
    const resumed = w.run.resumed;
    if (resumed) await this.#results.adopt(w, resumed.store).catch(() => this.#submit(w));
    else this.#submit(w);
  }

  /** Remove a waiting job, or ask its worker to abort it. */
  async #cancel(w: Waiter, reason: string): Promise<void> {
    if (!w.submitted) return;
    const queue = await this.#queue(w.queue);
    const removed = await queue.remove(w.jobId).catch(() => 0);
    if (!removed) {
      await this.client().publish(
        cancelChannel(this.config.prefix),
        JSON.stringify({ jobId: w.jobId, reason }),
      );
    }
  }

  /**
   * The run's `dispatch` hook: each attempt becomes one BullMQ job. Fails fast when the pipeline
   * has no source module or Redis cannot be reached.
   */
  protected override async hooks(
    pipeline: PipelineSpec,
    options: RunPipelineOptions,
  ): Promise<RunHooks> {
    const source = pipeline.source;
    if (!source) {
      throw new ComponentError(
        `queue orchestrator: pipeline "${pipeline.name}" has no source module, so workers cannot import it`,
        {
          hint: "create it with new Pipeline(name, { source: import.meta.url }), or run it with " +
            "`flowyml run path/to/pipeline.ts`",
        },
      );
    }
    const stack = options.stack;
    const hash = pipelineHash(pipeline);
    if (this.#closed) throw this.#closedError();
    // Fail within seconds when Redis cannot be reached, instead of retrying silently forever.
    if (this.#probed !== this.#generation) {
      await probeRedis(this.config.redis);
      this.#probed = this.#generation;
    }
    const run: RunContext = {
      source,
      hash,
      codeHash: await pipelineCodeHash(pipeline),
      storeId: await ensureStoreId(stack.artifactStore),
      resources: options.resources,
      uris: {
        uriFor: (path) => stack.artifactStore.uriFor(path),
        blobUri: (h) => stack.metadataStore.blobUri(h),
      },
      meta: stack.metadataStore,
      // Small outputs inline when the artifact store agrees to it (as for local runs).
      inlineMax: stack.artifactStore.acceptsInline
        ? Math.min(this.config.inlineMaxBytes, stack.metadataStore.inlineMaxBytes)
        : 0,
      ...(options.resumeRunId ? { resumed: { store: stack.artifactStore } } : {}),
    };
    this.#active++;
    // Connect to the run's default queue (and its event stream) now, while the engine records
    // the run and prepares its first steps; a failure surfaces from the first submission.
    this.#queue(queueFor(options.resources, this.config.queue)).catch(() => {});
    return {
      concurrency: options.concurrency ?? this.config.maxInFlight,
      runningRecordDelayMs: this.config.runningRecordMs,
      dispatchEnforcesTimeout: true, // workers time each step from its start, not from submission
      // Workers get inline inputs from this driver, which reads its metadata store: cache hits on
      // inline outputs are usable.
      inlineArtifacts: true,
      dispatch: (task, step, signal) => this.#dispatch(task, step, signal, run),
      // Connections close when no run is active, so a script using Pipeline.run() can exit.
      onSettled: () => {
        if (--this.#active === 0) this.#release().catch(() => {});
      },
    };
  }

  /** This orchestrator's own Redis client (liveness queries, cancel messages), opened on first use. */
  client(): Redis {
    if (this.#closed) throw this.#closedError();
    if (!this.#redis) {
      this.#redis = new Redis(redisConnection(this.config.redis));
      this.#redis.on("error", () => {}); // reconnects by itself; callers see command errors
    }
    return this.#redis;
  }

  /** One connection attempt to Redis, without retries: fails within seconds naming the fix. */
  override async validate(): Promise<boolean> {
    await probeRedis(this.config.redis);
    return true;
  }

  /** Redis (drivers and workers), and the host name for `host:pid` ids. */
  override permissions(): PermissionNeeds {
    const c = redisConnection(this.config.redis);
    return { net: [`${c.host}:${c.port}`], sys: ["hostname"] };
  }

  /** The parsed config (without `name`), with the password in the Redis URL replaced by `***`. */
  override toDict(): Record<string, unknown> {
    const { name: _, ...rest } = this.config;
    return { type: "queue", ...rest, redis: redactRedisUrl(this.config.redis) };
  }

  #closedError(): FlowymlError {
    return new FlowymlError(`queue orchestrator "${this.name}" is closed`, {
      hint: "build the stack again to start another run",
    });
  }

  /** Close every connection and timer, for good: a closed orchestrator opens nothing again. */
  override async close(): Promise<void> {
    this.#closed = true;
    await this.#release();
  }

  /** Close connections and timers (no run is active); a later run opens new ones. */
  async #release(): Promise<void> {
    this.#generation++;
    if (this.#watchdog) clearInterval(this.#watchdog);
    this.#watchdog = undefined;
    // Detach everything first, so a new run or query opens fresh connections meanwhile.
    const events = [...this.#events.values()];
    const queues = [...this.#queues.values()];
    const redis = this.#redis;
    this.#events.clear();
    this.#queues.clear();
    this.#redis = undefined;
    for (const e of events) await e.close().catch(() => {});
    for (const q of queues) await (await q.catch(() => undefined))?.close().catch(() => {});
    // A client that never connected (or lost its server) would wait forever for QUIT's reply.
    if (redis?.status === "ready") await redis.quit().catch(() => redis.disconnect());
    else redis?.disconnect();
  }
}
