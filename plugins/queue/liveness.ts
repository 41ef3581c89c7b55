/**
 * Queue workers' liveness records: each `flowyml worker` keeps one in Redis
 * (a key with a TTL, renewed by heartbeats, see worker.ts) saying which
 * queues it serves, its counters and the steps it is running;
 * {@linkcode listWorkers} reads them (`flowyml workers list`, refusals).
 * @module
 */
import type { Redis } from "ioredis";
import { workerKey } from "./config.ts";

/** A step a worker is running, as published in its liveness record. */
export interface CurrentStep {
  /** BullMQ job id of the step attempt. */
  jobId: string;
  /** Run the step belongs to. */
  runId: string;
  /** Step name. */
  step: string;
  /** Attempt number of the step (the engine's retries are new jobs). */
  attempt: number;
  /** When the worker started it, epoch ms. */
  since: number;
}

/** A worker's liveness record in Redis. */
export interface WorkerInfo {
  /** Worker id (default `host:pid`). */
  id: string;
  /** Process id of the worker. */
  pid: number;
  /** Queues it takes steps from. */
  queues: string[];
  /** Steps it runs at once. */
  concurrency: number;
  /** `draining` once it is stopping: running steps get the grace period, new ones are handed back. */
  state: "running" | "draining";
  /** When the worker started, epoch ms. */
  startedAt: number;
  /** Its last heartbeat, epoch ms (the record expires when heartbeats stop). */
  heartbeatAt: number;
  /** Steps it completed. */
  done: number;
  /** Steps that failed on it. */
  failed: number;
  /** Steps it handed back to the queue unfinished, because it was stopping. */
  handedBack: number;
  /** Steps refused (stale code, another store) and handed back. */
  refused?: number;
  /** Steps it is running now. */
  steps: CurrentStep[];
}

/** Live workers of a queue deployment, from their liveness records. */
export async function listWorkers(redis: Redis, prefix: string): Promise<WorkerInfo[]> {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await redis.scan(cursor, "MATCH", workerKey(prefix, "*"), "COUNT", 200);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== "0");
  if (!keys.length) return [];
  const values = await redis.mget(...keys);
  return values.filter((v): v is string => !!v).map((v) => JSON.parse(v) as WorkerInfo)
    .sort((a, b) => a.id.localeCompare(b.id));
}
