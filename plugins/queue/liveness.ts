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
  jobId: string;
  runId: string;
  step: string;
  attempt: number;
  since: number;
}

/** A worker's liveness record in Redis. */
export interface WorkerInfo {
  id: string;
  pid: number;
  queues: string[];
  concurrency: number;
  state: "running" | "draining";
  startedAt: number;
  heartbeatAt: number;
  done: number;
  failed: number;
  handedBack: number;
  /** Steps refused (stale code, another store) and handed back. */
  refused?: number;
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
