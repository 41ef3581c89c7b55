/**
 * Helpers of the scale-out tests: a `cluster` stack on real Redis and
 * PostgreSQL with a shared artifact folder, and worker/driver processes
 * spawned as the real deno binary running the worker commands.
 * @module
 */
import { fileURLToPath as fromFileUrl } from "node:url";
import { DatabaseSync } from "node:sqlite";
import type { MetadataStore } from "../../kernel/metadata_store.ts";
import { tempDir } from "../_helpers.ts";
import { type RedisServer, startRedis } from "../services/redis.ts";
import { startPostgres } from "../services/postgres.ts";

/** Entry point running `worker`, `workers list` and `runs resume` (same code as the CLI). */
export const WORKER_MAIN = fromFileUrl(
  new URL("../../cli/worker_main.ts", import.meta.url),
);
/** Test driver process (`driver.ts <module> <stack> [params]`). */
export const DRIVER = fromFileUrl(new URL("./fixtures/driver.ts", import.meta.url));

/** Fixture module path. */
export function fixture(name: string): string {
  return fromFileUrl(new URL(`./fixtures/${name}.ts`, import.meta.url));
}

/** Lock settings the tests use: a dead worker's step is re-run after about 2.5 s. */
export const TEST_LOCKS = {
  lockDurationMs: 2000,
  stalledIntervalMs: 1000,
  heartbeatMs: 1000,
  pollMs: 1000,
};

/** `flowyml.yaml` text of the test `cluster` stack. */
export function clusterYaml(
  options: { redis: string; pg?: string; artifacts: string; artifactStore?: string },
): string {
  const orch = { type: "queue", redis: options.redis, concurrency: 4, ...TEST_LOCKS };
  const meta = options.pg
    ? { type: "postgres", url: options.pg }
    : { type: "sqlite", path: `${options.artifacts}/../meta.db` };
  return `stacks:
  cluster:
    orchestrator: ${JSON.stringify(orch)}
    artifact_store: ${
    options.artifactStore ?? JSON.stringify({ type: "local", path: options.artifacts })
  }
    metadata_store: ${JSON.stringify(meta)}
`;
}

/** An artifact as recorded: a file in the artifact folder, or inline in the metadata store. */
export interface StoredRef {
  hash: string;
  path: string;
  inline?: boolean;
}

/**
 * The stored bytes of a recorded artifact: small step outputs come back from the workers inline
 * (plugins/queue/inline.ts) and live in the metadata store's blobs; others are files.
 */
export async function storedBytes(
  meta: Pick<MetadataStore, "getBlob">,
  artifacts: string,
  a: StoredRef,
): Promise<Uint8Array> {
  if (!a.inline) return await Deno.readFile(`${artifacts}/${a.path}`);
  const bytes = await meta.getBlob(a.hash);
  if (!bytes) throw new Error(`inline artifact ${a.hash} is not in the metadata store`);
  return bytes;
}

/**
 * Delete a stored output behind flowyml's back: its file, or its row in the blobs table of the
 * metadata store (`options.pg`, else the SQLite file of {@linkcode clusterYaml}).
 */
export async function deleteStored(
  artifacts: string,
  a: StoredRef,
  options: { pg?: string } = {},
): Promise<void> {
  if (!a.inline) return await Deno.remove(`${artifacts}/${a.path}`);
  if (options.pg) {
    const { default: postgres } = await import("postgres");
    const sql = postgres(options.pg, { onnotice: () => {} });
    try {
      const r = await sql`DELETE FROM blobs WHERE hash = ${a.hash}`;
      if (r.count !== 1) throw new Error(`no blob ${a.hash} to delete`);
    } finally {
      await sql.end();
    }
    return;
  }
  const db = new DatabaseSync(`${artifacts}/../meta.db`);
  try {
    db.exec("PRAGMA busy_timeout = 5000");
    const r = db.prepare("DELETE FROM blobs WHERE hash = ?").run(a.hash);
    if (r.changes !== 1) throw new Error(`no blob ${a.hash} to delete`);
  } finally {
    db.close();
  }
}

/** A spawned process whose output lines are collected. */
export class Proc {
  readonly child: Deno.ChildProcess;
  readonly lines: string[] = [];
  readonly name: string;
  readonly done: Promise<Deno.CommandStatus>;
  #pumps: Promise<void>[];

  constructor(name: string, args: string[], env: Record<string, string>) {
    this.name = name;
    this.child = new Deno.Command(Deno.execPath(), {
      args,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#pumps = [this.#pump(this.child.stdout), this.#pump(this.child.stderr)];
    this.done = this.child.status.then(async (s) => {
      await Promise.all(this.#pumps);
      return s;
    });
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    let buf = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      const parts = buf.split("\n");
      buf = parts.pop()!;
      this.lines.push(...parts);
    }
    if (buf) this.lines.push(buf);
  }

  get pid(): number {
    return this.child.pid;
  }

  /** Send a signal if the process still runs. */
  kill(signal: Deno.Signal = "SIGTERM"): void {
    try {
      this.child.kill(signal);
    } catch {
      // already exited
    }
  }

  /** Output so far, for failure messages. */
  text(): string {
    return this.lines.join("\n");
  }
}

/** Spawn a worker process with a fixed id. */
export function spawnWorker(id: string, config: string, extra: string[] = []): Proc {
  return new Proc(id, [
    "run",
    "-A",
    WORKER_MAIN,
    "worker",
    "--stack",
    "cluster",
    "--id",
    id,
    // These tests exercise the queue itself; the worker's least-privilege child
    // process is tested in worker_boundary_test.ts.
    "--inherit-permissions",
    ...extra,
  ], {
    FLOWYML_CONFIG: config,
  });
}

/** Wait until `cond` holds, polling every 50 ms. */
export async function waitFor<T>(
  cond: () => T | Promise<T>,
  ms: number,
  what: string,
): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  while (true) {
    const v = await cond();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Lines of a marker file written by fixture steps (empty when missing). */
export async function marks(dir: string, step: string): Promise<string[]> {
  try {
    return (await Deno.readTextFile(`${dir}/${step}.log`)).trim().split("\n").filter(Boolean);
  } catch {
    return [];
  }
}

/** A `cluster` stack on a fresh Redis and PostgreSQL database, its config written. */
export interface Cluster {
  /** The test's temp folder. */
  tmp: string;
  redis: RedisServer;
  /** URL of the stack's PostgreSQL database. */
  pgUrl: string;
  /** The shared artifact folder. */
  artifacts: string;
  /** Path of the written `flowyml.yaml`, and its text. */
  config: string;
  yaml: string;
  /** Processes `stop` kills: the workers started here, and any the test adds. */
  procs: Proc[];
  /** Spawn a worker (`spawnWorker`, by default on `config`) and track it in `procs`. */
  startWorker: (id: string, extra?: string[], config?: string) => Proc;
  /** SIGKILL the tracked processes, stop the servers, remove the temp folder. */
  stop: () => Promise<void>;
}

/** Start Redis and PostgreSQL, create database `db` and write the `cluster` stack's config. */
export async function startCluster(db: string, prefix: string): Promise<Cluster> {
  const tmp = await tempDir(prefix);
  const redis = await startRedis();
  const pg = await startPostgres();
  const procs: Proc[] = [];
  const stop = async () => {
    for (const p of procs) p.kill("SIGKILL");
    await Promise.all(procs.map((p) => p.done));
    await pg.stop();
    await redis.stop();
    await tmp.cleanup();
  };
  try {
    const pgUrl = await pg.createDatabase(db);
    const artifacts = `${tmp.path}/artifacts`;
    const config = `${tmp.path}/flowyml.yaml`;
    const yaml = clusterYaml({ redis: redis.url, pg: pgUrl, artifacts });
    await Deno.writeTextFile(config, yaml);
    const startWorker = (id: string, extra: string[] = [], cfg = config) => {
      const p = spawnWorker(id, cfg, extra);
      procs.push(p);
      return p;
    };
    return { tmp: tmp.path, redis, pgUrl, artifacts, config, yaml, procs, startWorker, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
