/**
 * Config of the queue orchestrator (`type: queue`), plus the small pure
 * helpers shared by the driver and the workers: Redis connection options,
 * queue selection from a step's resources, key names and the job payload.
 * Kept free of `npm:bullmq` so configs validate without loading it.
 * @module
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { z } from "zod";
import type { ResourceConfig } from "../../kernel/component.ts";
import { ConfigError } from "../../kernel/errors.ts";
import type { Schema } from "../../kernel/schema.ts";
import { blobPath, objectPath } from "../../kernel/artifacts.ts";
import type { ArtifactRef } from "../../kernel/records.ts";
import type { StepTask } from "../../kernel/step_runner.ts";

/**
 * Options of `orchestrator: { type: queue, … }` (what {@linkcode queueOrchestratorSchema}
 * accepts); the driver and its workers read the same block.
 */
export interface QueueOrchestratorOptions {
  /** Instance name (default `queue`). */
  name?: string;
  /**
   * Redis URL, `redis://[user:pass@]host:port[/db]` or `rediss://` for TLS
   * (default `redis://127.0.0.1:6379`).
   */
  redis?: string;
  /** Redis key prefix of every queue: letters, digits, `_`, `.`, `-` (default `flowyml`). */
  prefix?: string;
  /** Queue of steps without labels (default `default`). */
  queue?: string;
  /** Queues a worker takes steps from (default `[queue]`); `flowyml worker --queues` overrides. */
  queues?: string[];
  /**
   * Pipeline modules (paths or URLs) a worker imports when it starts, so its first step imports
   * nothing and a module that cannot be imported stops the worker at once (default none).
   */
  preload?: string[];
  /** Steps one worker runs at once (default 4). */
  concurrency?: number;
  /** Steps the driver keeps submitted at once: the run's concurrency (default 256). */
  maxInFlight?: number;
  /**
   * A worker's lock on a running step, in ms; a dead worker's step is re-run after about this
   * (default 30000).
   */
  lockDurationMs?: number;
  /** How often workers look for steps whose worker died, in ms (default 30000). */
  stalledIntervalMs?: number;
  /** Times a step may lose its worker before that attempt fails (default 2). */
  maxStalledCount?: number;
  /** Interval of a worker's liveness heartbeat, in ms (default 5000). */
  heartbeatMs?: number;
  /**
   * How often the driver re-checks submitted steps (covers lost events and Redis restarts), in ms
   * (default 5000).
   */
  pollMs?: number;
  /**
   * A submitted step gets a "running" record once it has been in flight this many ms; shorter
   * ones go straight to their final record, saving a metadata write (default 1000).
   */
  runningRecordMs?: number;
  /**
   * On SIGTERM, a worker lets running steps finish this many ms before handing them back
   * (default 25000).
   */
  graceMs?: number;
  /** Finished jobs are kept in Redis this many seconds (default 86400). */
  keepCompletedS?: number;
  /**
   * Step outputs up to this many bytes travel back with the job's result and are stored inline in
   * the driver's metadata store instead of as artifact files; also capped by the metadata store's
   * own `inlineMaxBytes`; 0 disables (default 4096).
   */
  inlineMaxBytes?: number;
}

/** Parsed queue orchestrator config: {@linkcode QueueOrchestratorOptions} with defaults applied. */
export type QueueConfig =
  & QueueOrchestratorOptions
  & Required<
    Omit<QueueOrchestratorOptions, "name" | "queues" | "preload">
  >;

const queueOrchestratorObject = z.object({
  name: z.string().optional(),
  redis: z.string().default("redis://127.0.0.1:6379").describe(
    "Redis URL: redis://[user:pass@]host:port[/db]",
  ),
  prefix: z.string().regex(/^[\w.-]+$/).default("flowyml").describe(
    "Redis key prefix of every queue",
  ),
  queue: z.string().regex(/^[\w.+-]+$/).default("default").describe(
    "queue of steps without labels",
  ),
  queues: z.array(z.string().regex(/^[\w.+-]+$/)).optional()
    .describe("queues a worker takes steps from (default: [queue]); `--queues` overrides"),
  preload: z.array(z.string().min(1)).optional()
    .describe(
      "pipeline modules a worker imports when it starts (paths or URLs): no import on its " +
        "first step, and a module that cannot be imported stops the worker at once",
    ),
  concurrency: z.number().int().positive().default(4).describe("steps one worker runs at once"),
  maxInFlight: z.number().int().positive().default(256)
    .describe("steps the driver keeps submitted at once (the run's concurrency)"),
  lockDurationMs: z.number().int().positive().default(30_000)
    .describe("a worker's lock on a running step; a dead worker's step is re-run after about this"),
  stalledIntervalMs: z.number().int().positive().default(30_000)
    .describe("how often workers look for steps whose worker died"),
  maxStalledCount: z.number().int().nonnegative().default(2)
    .describe("times a step may lose its worker before that attempt fails"),
  heartbeatMs: z.number().int().positive().default(5_000).describe("worker liveness heartbeat"),
  pollMs: z.number().int().positive().default(5_000)
    .describe(
      "driver re-checks submitted steps this often (covers lost events and Redis restarts)",
    ),
  runningRecordMs: z.number().int().nonnegative().default(1_000)
    .describe(
      'a submitted step gets a "running" record once it has been in flight this long ' +
        "(shorter ones go straight to their final record, saving a metadata write)",
    ),
  graceMs: z.number().int().nonnegative().default(25_000)
    .describe("on SIGTERM, let running steps finish this long before handing them back"),
  keepCompletedS: z.number().int().positive().default(86_400).describe(
    "keep finished jobs this long",
  ),
  inlineMaxBytes: z.number().int().nonnegative().default(4096).describe(
    "step outputs up to this size travel back with the job's result and are stored inline in " +
      "the driver's metadata store (with the step's record) instead of as artifact files; also " +
      "capped by the metadata store's own inlineMaxBytes; 0 disables",
  ),
}).strict();

/** Config schema of the queue orchestrator (parses to {@linkcode QueueConfig}). */
export const queueOrchestratorSchema: Schema<QueueConfig> = queueOrchestratorObject;
// The declared types are what the schema accepts and returns: `deno check` fails when they drift.
const _declared: z.ZodType<QueueConfig, QueueOrchestratorOptions> = queueOrchestratorObject;

/** Options of the ioredis connections BullMQ opens (parsed from a `redis://` URL). */
export interface RedisConnectionOptions {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
  tls?: Record<string, never>;
  /** `null`: commands wait for a reconnect instead of failing (needed by workers). */
  maxRetriesPerRequest: null;
  /** Reconnect forever, backing off up to 2 s. */
  retryStrategy: (times: number) => number;
}

/** Connection options for a `redis://` or `rediss://` URL. */
export function redisConnection(url: string): RedisConnectionOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(`queue orchestrator: redis "${url}" is not a URL`, {
      hint: 'write redis: "redis://host:6379" (or rediss:// for TLS)',
    });
  }
  if (u.protocol !== "redis:" && u.protocol !== "rediss:") {
    throw new ConfigError(
      `queue orchestrator: redis URL must start with redis:// or rediss://, got ${u.protocol}`,
    );
  }
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined;
  return {
    host: u.hostname || "127.0.0.1",
    port: Number(u.port || 6379),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(db !== undefined && !Number.isNaN(db) ? { db } : {}),
    ...(u.protocol === "rediss:" ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
    retryStrategy: (times: number) => Math.min(50 * times, 2_000),
  };
}

/** The URL with its password replaced by `***`. */
export function redactRedisUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]*:)[^@]*@/, "$1***@");
}

/**
 * The queue a step goes to: its labels (plus `gpu` when it asks for a GPU),
 * sorted and joined with `+`; no labels means the default queue.
 *
 * ```ts
 * import { queueFor } from "./config.ts";
 * queueFor({ labels: ["highmem"], gpu: 1 }, "default"); // "gpu+highmem"
 * ```
 */
export function queueFor(resources: ResourceConfig | undefined, defaultQueue: string): string {
  const labels = new Set(resources?.labels ?? []);
  if (resources?.gpu !== undefined && resources.gpu !== 0 && resources.gpu !== "0") {
    labels.add("gpu");
  }
  return labels.size ? [...labels].sort().join("+") : defaultQueue;
}

/**
 * What a queued job carries: the step attempt as data, never artifact bytes.
 * `task.source` is left out (it is `source`); workers put it back.
 */
export interface StepJobData {
  /**
   * Payload format version. 2: the driver reads compact results (inline outputs carry their
   * bytes in their reference, see {@linkcode CompactRef}) and may leave out `pipelineHash`.
   */
  v: 1 | 2;
  task: StepTask;
  /** Module specifier the workers import the pipeline from. */
  source: string;
  /**
   * {@linkcode pipelineHash} of the driver's pipeline; workers refuse a different one. Only
   * needed without `codeHash` (which covers it).
   */
  pipelineHash?: string;
  /** Who submitted it (host:pid), for logs. */
  driver: string;
  /**
   * The driver's `pipelineCodeHash`: step code plus the whole local module
   * graph of the steps; workers refuse a step when theirs differs.
   */
  codeHash?: string;
  /** Identity token of the driver's artifact store; workers refuse a step when theirs differs. */
  storeId?: string;
  /** Workers that refused the step (stale code, another store); it went back to the queue. */
  refusedBy?: string[];
  /** How many times the step was refused and handed back. */
  refusals?: number;
  /**
   * Outputs up to this many serialized bytes are returned inline in the job's result
   * ({@linkcode StepJobResult.blobs}) instead of written to the artifact store; absent or 0: none.
   */
  inlineMax?: number;
  /** Bytes (base64) of the task's inline inputs, by sha256; the worker verifies them on read. */
  blobs?: Record<string, string>;
}

/**
 * An output reference as a worker returns it: `path` and `uri` are left out
 * when the object is at its content path (`objects/<aa>/<hash>`, or
 * `blobs/<hash>` for an inline one: always the case for step outputs), since
 * the driver derives both; results stay small. For a driver that reads payload
 * v2, an inline output carries its bytes (`bytes`, base64) and leaves out
 * `inline` and `size`, which the bytes say.
 */
export type CompactRef = Omit<ArtifactRef, "path" | "uri" | "size"> & Partial<ArtifactRef> & {
  /** Base64 of an inline output's bytes (payload v2); the driver checks them against `hash`. */
  bytes?: string;
};

/** How many of a step's log lines a worker sends back with its result. */
export const MAX_RETURNED_LOG_LINES = 200;

/** What a worker returns for a job (the JSON part of a `StepTaskResult`). */
export interface StepJobResult {
  outputs: Record<string, CompactRef>;
  readParams: string[] | "*";
  worker: string;
  /** Metrics the step logged (`ctx.logMetrics`); the driver records them. */
  metrics?: Record<string, number>;
  /** The step's `ctx.log` lines (the last {@linkcode MAX_RETURNED_LOG_LINES}), shown by the driver. */
  logs?: string[];
  /** Bytes (base64) of the outputs stored inline, by sha256; the driver verifies them. */
  blobs?: Record<string, string>;
}

/**
 * Output references without what the driver can derive (see {@linkcode CompactRef}). With
 * `blobs` (payload v2: base64 bytes by hash), each inline output at its content path carries
 * its bytes instead of `inline` and `size`.
 */
export function compactRefs(
  refs: Record<string, ArtifactRef>,
  blobs?: Record<string, string>,
): Record<string, CompactRef> {
  const out: Record<string, CompactRef> = {};
  for (const name in refs) {
    const r = refs[name];
    if (r.path !== (r.inline ? blobPath(r.hash) : objectPath(r.hash))) out[name] = r;
    else if (r.inline && blobs?.[r.hash] !== undefined) {
      const { path: _p, uri: _u, inline: _i, size: _s, ...rest } = r;
      out[name] = { ...rest, bytes: blobs[r.hash] };
    } else {
      const { path: _p, uri: _u, ...rest } = r;
      out[name] = rest;
    }
  }
  return out;
}

/** Byte length of base64 text (standard alphabet, padded), without decoding it. */
function base64Size(b64: string): number {
  const pad = b64.endsWith("==") ? 2 : b64.endsWith("=") ? 1 : 0;
  return (b64.length / 4) * 3 - pad;
}

/** Where the driver's artifacts live: its artifact store's `uriFor`, its metadata store's `blobUri`. */
export interface RefUris {
  /** URI of an object path in the artifact store. */
  uriFor: (path: string) => string;
  /** URI of an inline artifact in the metadata store. */
  blobUri: (hash: string) => string;
}

/**
 * Full references again, with the URIs of the driver's stores. The bytes of an inline output
 * (payload v2) are left out of its reference; {@linkcode refBlobs} collects them.
 */
export function expandRefs(
  refs: Record<string, CompactRef>,
  uris: RefUris,
): Record<string, ArtifactRef> {
  const out: Record<string, ArtifactRef> = {};
  for (const name in refs) {
    const { bytes, ...r } = refs[name];
    if (bytes !== undefined || r.inline) {
      // v2 sends the bytes instead of `inline` and `size`; v1 sends both and no bytes.
      out[name] = {
        ...r,
        path: r.path ?? blobPath(r.hash),
        uri: r.uri ?? uris.blobUri(r.hash),
        inline: true,
        size: r.size ?? base64Size(bytes!),
      };
    } else {
      const path = r.path ?? objectPath(r.hash);
      out[name] = { ...r, path, uri: r.uri ?? uris.uriFor(path) } as ArtifactRef;
    }
  }
  return out;
}

/**
 * Base64 bytes by hash of a job result's inline outputs: the result's `blobs` (payload v1) and
 * the `bytes` of its references (v2); `undefined` when there are none.
 */
export function refBlobs(r: StepJobResult): Record<string, string> | undefined {
  let out: Record<string, string> | undefined;
  for (const name in r.outputs) {
    const c = r.outputs[name];
    if (c.bytes !== undefined) (out ??= { ...r.blobs })[c.hash] = c.bytes;
  }
  return out ?? r.blobs;
}

/** Redis key of a worker's liveness record. */
export function workerKey(prefix: string, id: string): string {
  return `${prefix}:flowyml:worker:${id}`;
}

/** Redis pub/sub channel on which drivers cancel jobs. */
export function cancelChannel(prefix: string): string {
  return `${prefix}:flowyml:cancel`;
}

/** A preload entry as the specifier drivers send: paths become `file:` URLs. */
export function moduleSpecifier(pathOrUrl: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(pathOrUrl) && !/^[a-z]:[\\/]/i.test(pathOrUrl)) return pathOrUrl;
  return pathToFileURL(resolve(pathOrUrl)).href;
}

/** `host:pid` of this process (falls back to `pid` without `--allow-sys=hostname`). */
export function processId(): string {
  let host = "host";
  try {
    host = Deno.hostname();
  } catch {
    // no --allow-sys=hostname: keep the generic name
  }
  return `${host}:${Deno.pid}`;
}
