/**
 * `PostgresMetadataStore` (`type: postgres`): the same contract as the
 * SQLite store (runs, step runs, artifacts, lineage, the step cache and the
 * audit trail) in a PostgreSQL database, so a team and its queue workers
 * share one run history. Built on `npm:postgres` 3.4 (pure TypeScript, no
 * native code). Tables are created by versioned migrations on first use.
 *
 * ```yaml
 * metadata_store: { type: postgres, url: "${PG_URL}", schema: flowyml }
 * ```
 *
 * Connecting (and explaining connection errors) is in `connection.ts`, the
 * group commit of step completions in `group_commit.ts`.
 * @module
 */
import type postgres from "postgres";
import type { PermissionNeeds } from "../../kernel/component.ts";
import { MetadataStore, type StepCompletion } from "../../kernel/contracts.ts";
import { FlowymlError } from "../../kernel/errors.ts";
import type {
  ArtifactRecord,
  AuditEvent,
  CacheEntry,
  LineageEdge,
  MetricRecord,
  RunQuery,
  RunRecord,
  StepRunRecord,
} from "../../kernel/records.ts";
import {
  type PostgresMetadataStoreConfig,
  type PostgresMetadataStoreOptions,
  postgresMetadataStoreSchema,
} from "./config.ts";
import type { Schema } from "../../kernel/schema.ts";
import type { StepLogLine } from "../../kernel/step_logs.ts";
import { explainPgError, hostPort, openPool, redactUrl } from "./connection.ts";
import { GroupCommit } from "./group_commit.ts";
import {
  decodeJsonValue,
  type Row,
  RUN_PATCH_COLUMNS,
  toArtifact,
  toAudit,
  toCacheEntry,
  toLineage,
  toMetric,
  toRun,
  toStepLog,
  toStepRun,
} from "../_sql/rows.ts";

export { postgresMetadataStoreSchema, redactUrl };

type Sql = postgres.Sql;

/** Tracks runs in PostgreSQL. */
export class PostgresMetadataStore extends MetadataStore {
  /** The `type:` of this store in flowyml.yaml. */
  static readonly type = "postgres";
  /** Validates a `type: postgres` config before the store is built. */
  static readonly configSchema: Schema<PostgresMetadataStoreConfig> = postgresMetadataStoreSchema;
  /** Connection URL (may hold a password: {@linkcode toDict} redacts it). */
  readonly url: string;
  /** Schema holding flowyml's tables (default `public`). */
  readonly schema: string;
  /** Size of the connection pool (default 10). */
  readonly maxConnections: number;
  /** Seconds before a connection attempt gives up (default 10). */
  readonly connectTimeoutS: number;
  /** TLS mode given in the config; none: as the URL's `sslmode` says. */
  readonly ssl?: PostgresMetadataStoreOptions["ssl"];
  #sql?: Sql;
  #ready?: Promise<Sql>;
  /** Step completions and staged inline blobs, written together (group_commit.ts). */
  #completions = new GroupCommit((fn) => this.#q(fn));
  /**
   * Artifacts up to this many bytes are stored in the `blobs` table, in the statement of the
   * step completion that follows them, when the run's steps execute in this process
   * (docs/artifacts.md). Default 64 KiB; `0` disables it.
   */
  override readonly inlineMaxBytes: number;

  /**
   * Take the (already validated) options, defaults filled in; nothing connects until first use.
   * Throws when `url` is missing.
   */
  constructor(options: PostgresMetadataStoreOptions) {
    super(options.name ?? "postgres");
    if (!options?.url) {
      throw new FlowymlError("postgres metadata store: `url` is required", {
        hint: 'set metadata_store.url, e.g. url: "postgres://user:pass@host:5432/db"',
      });
    }
    this.url = options.url;
    this.schema = options.schema ?? "public";
    this.maxConnections = options.maxConnections ?? 10;
    this.connectTimeoutS = options.connectTimeoutS ?? 10;
    this.ssl = options.ssl;
    this.inlineMaxBytes = options.inlineMaxBytes ?? 64 * 1024;
  }

  /**
   * The connection pool (npm:postgres' `Sql`), connected and migrated on first use; a failed
   * connection is tried again on the next call.
   */
  sql(): Promise<Sql> {
    this.#ready ??= (async () => {
      try {
        const sql = await openPool(this);
        this.#sql = sql;
        return sql;
      } catch (err) {
        this.#ready = undefined;
        throw err;
      }
    })();
    return this.#ready;
  }

  async #q<T = Row[]>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    const sql = await this.sql();
    try {
      return await fn(sql);
    } catch (err) {
      throw explainPgError(err, this.url);
    }
  }

  /** Schema version after migrations. */
  async schemaVersion(): Promise<number> {
    const rows = await this.#q((sql) => sql`SELECT MAX(version) v FROM schema_migrations`);
    return Number(rows[0].v);
  }

  /** Connects (applying pending migrations on first use) and runs `SELECT 1`. */
  override async validate(): Promise<boolean> {
    await this.#q((sql) => sql`SELECT 1`);
    return true;
  }

  /** Type, URL with its password redacted, and schema. */
  override toDict(): Record<string, unknown> {
    return { type: "postgres", url: redactUrl(this.url), schema: this.schema };
  }

  /**
   * Net access to the URL's host:port, and env for the `PG*` variables npm:postgres reads for
   * every option the URL does not set.
   */
  override permissions(): PermissionNeeds {
    // npm:postgres reads PG<OPTION> for every option not set in the URL (PGSSL, PGSSLNEGOTIATION…).
    const opts = ["MAX", "SSL", "SSLNEGOTIATION", "IDLE_TIMEOUT", "CONNECT_TIMEOUT", "MAX_LIFETIME"]
      .concat(["MAX_PIPELINE", "BACKOFF", "KEEP_ALIVE", "PREPARE", "DEBUG", "FETCH_TYPES"])
      .concat(["PUBLICATIONS", "TARGET_SESSION_ATTRS", "APPNAME", "TARGETSESSIONATTRS"]);
    return { net: [hostPort(this.url)], env: opts.map((o) => `PG${o}`) };
  }

  /** Writes waiting completions, then ends the pool (connections get up to 5 s to finish). */
  override async close(): Promise<void> {
    if (this.#completions.waiting) await this.#completions.flush();
    const sql = this.#sql;
    this.#sql = undefined;
    this.#ready = undefined;
    await sql?.end({ timeout: 5 });
  }

  /** Inserts the run's row (params and extra as JSON). */
  override async createRun(r: RunRecord): Promise<void> {
    await this.#q((sql) =>
      sql`INSERT INTO runs (run_id, pipeline, status, stack, params, started_at, ended_at, error,
        pipeline_hash, image, extra, pid, host, heartbeat_at, cache, lease)
      VALUES (${r.runId}, ${r.pipeline}, ${r.status}, ${r.stack}, ${
        json(sql, r.params)
      }, ${r.startedAt},
        ${r.endedAt ?? null}, ${r.error ?? null}, ${r.pipelineHash ?? null}, ${r.image ?? null},
        ${json(sql, r.extra)}, ${r.pid ?? null}, ${r.host ?? null}, ${r.heartbeatAt ?? null},
        ${r.cache ?? null}, ${r.lease ?? null})`
    );
  }

  /** One `UPDATE` of the columns `patch` names. */
  override async updateRun(runId: string, patch: Partial<RunRecord>): Promise<void> {
    await this.#updateRun(runId, patch);
  }

  /** One conditional `UPDATE`: only while the run holds the lease token `lease`. */
  override async updateRunLeased(
    runId: string,
    patch: Partial<RunRecord>,
    options: { lease: string | null },
  ): Promise<boolean> {
    return await this.#updateRun(runId, patch, options.lease) > 0;
  }

  async #updateRun(runId: string, patch: Partial<RunRecord>, lease?: string | null) {
    const set: Record<string, unknown> = {};
    for (const [k, c] of Object.entries(RUN_PATCH_COLUMNS)) {
      if (k in patch) set[c] = (patch as Row)[k] ?? null;
    }
    if ("cache" in patch) set.cache = patch.cache ?? null;
    return await this.#q(async (sql) => {
      if ("extra" in patch) set.extra = json(sql, patch.extra);
      if (!Object.keys(set).length) set.run_id = runId;
      const res = lease === undefined
        ? await sql`UPDATE runs SET ${sql(set)} WHERE run_id = ${runId}`
        : await sql`UPDATE runs SET ${sql(set)} WHERE run_id = ${runId}
            AND lease IS NOT DISTINCT FROM ${lease}::text`;
      return res.count;
    });
  }

  /** The run's row, decoded. */
  override async getRun(runId: string): Promise<RunRecord | undefined> {
    const rows = await this.#q((sql) => sql`SELECT * FROM runs WHERE run_id = ${runId}`);
    return rows[0] ? toRun(rows[0], decodeJsonValue) : undefined;
  }

  /** Runs filtered by pipeline and status, newest first (default limit 50). */
  override async listRuns(q: RunQuery = {}): Promise<RunRecord[]> {
    const rows = await this.#q((sql) =>
      sql`SELECT * FROM runs
        WHERE (${q.pipeline ?? null}::text IS NULL OR pipeline = ${q.pipeline ?? null})
          AND (${q.status ?? null}::text IS NULL OR status = ${q.status ?? null})
        ORDER BY started_at DESC, run_id DESC LIMIT ${q.limit ?? 50}`
    );
    return rows.map((r) => toRun(r, decodeJsonValue));
  }

  /**
   * Inserts or updates the step run's row; a completed or cached row is only replaced by another
   * completed or cached one.
   */
  override async upsertStepRun(s: StepRunRecord): Promise<void> {
    await this.#q((sql) =>
      sql`INSERT INTO step_runs (run_id, step, status, started_at, ended_at, duration_ms, cached, attempts,
        error, error_stack, worker, cache_key, outputs)
      VALUES (${s.runId}, ${s.step}, ${s.status}, ${s.startedAt ?? null}, ${s.endedAt ?? null},
        ${s.durationMs ?? null}, ${s.cached}, ${s.attempts}, ${s.error ?? null}, ${
        s.errorStack ?? null
      },
        ${s.worker ?? null}, ${s.cacheKey ?? null}, ${json(sql, s.outputs)})
      ON CONFLICT (run_id, step) DO UPDATE SET status = excluded.status, started_at = excluded.started_at,
        ended_at = excluded.ended_at, duration_ms = excluded.duration_ms, cached = excluded.cached,
        attempts = excluded.attempts, error = excluded.error, error_stack = excluded.error_stack,
        worker = excluded.worker, cache_key = excluded.cache_key, outputs = excluded.outputs
      WHERE step_runs.status NOT IN ('completed', 'cached')
        OR excluded.status IN ('completed', 'cached')`
    );
  }

  /**
   * Group commit: the completions that arrive in one event-loop turn go to the server as one
   * statement (group_commit.ts).
   */
  override recordStepCompletion(c: StepCompletion): Promise<void> {
    return this.#completions.add(c);
  }

  /** Stages an inline artifact's bytes: written with the next completion's statement. */
  override putBlob(hash: string, bytes: Uint8Array): void {
    this.#completions.stageBlob(hash, bytes);
  }

  /** An inline artifact's bytes (staged or stored), unverified. */
  override async getBlob(hash: string): Promise<Uint8Array | undefined> {
    const staged = this.#completions.staged(hash);
    if (staged) return staged;
    const rows = await this.#q((sql) => sql`SELECT bytes FROM blobs WHERE hash = ${hash}`);
    return rows[0] ? new Uint8Array(rows[0].bytes as Uint8Array) : undefined;
  }

  /** Hash and size of every inline artifact. */
  override async listBlobs(): Promise<{ hash: string; size: number }[]> {
    const rows = await this.#q((sql) => sql`SELECT hash, size FROM blobs ORDER BY hash`);
    return rows.map((r) => ({ hash: String(r.hash), size: Number(r.size) }));
  }

  /** The database URL (password redacted) with `#blobs/<hash>`. */
  override blobUri(hash: string): string {
    const schema = this.schema === "public" ? "" : `${this.schema}/`;
    return `${redactUrl(this.url).replace(/#.*$/, "")}#${schema}blobs/${hash}`;
  }

  /** Writes staged blobs and waiting completions. */
  override async flush(): Promise<void> {
    if (this.#completions.waiting) await this.#completions.flush();
  }

  /** The run's step runs in the order they were first recorded. */
  override async listStepRuns(runId: string): Promise<StepRunRecord[]> {
    const rows = await this.#q((sql) =>
      sql`SELECT * FROM step_runs WHERE run_id = ${runId} ORDER BY seq`
    );
    return rows.map((r) => toStepRun(r, decodeJsonValue));
  }

  /** Inserts the artifact's row, replacing the one of the same run, step and name. */
  override async recordArtifact(a: ArtifactRecord): Promise<void> {
    await this.#q((sql) =>
      sql`INSERT INTO artifacts (run_id, step, name, hash, path, uri, size, serializer, serializer_version,
        meta, created_at)
      VALUES (${a.runId}, ${a.step}, ${a.name}, ${a.hash}, ${a.path}, ${a.uri}, ${a.size}, ${a.serializer},
        ${a.serializerVersion}, ${json(sql, a.meta)}, ${a.createdAt})
      ON CONFLICT (run_id, step, name) DO UPDATE SET hash = excluded.hash, path = excluded.path,
        uri = excluded.uri, size = excluded.size, serializer = excluded.serializer,
        serializer_version = excluded.serializer_version, meta = excluded.meta, created_at = excluded.created_at`
    );
  }

  /** The run's artifacts, oldest first (then by name). */
  override async listArtifacts(runId: string): Promise<ArtifactRecord[]> {
    const rows = await this.#q((sql) =>
      sql`SELECT * FROM artifacts WHERE run_id = ${runId} ORDER BY created_at, name`
    );
    return rows.map((r) => toArtifact(r, decodeJsonValue));
  }

  /** Upserts the edges in one statement; of edges with the same key, the last one wins. */
  override async recordLineage(edges: LineageEdge[]): Promise<void> {
    // One statement; the last edge wins for a repeated key (as INSERT OR REPLACE in SQLite).
    const byKey = new Map<string, LineageEdge>();
    for (const e of edges) byKey.set(JSON.stringify([e.runId, e.step, e.direction, e.name]), e);
    if (!byKey.size) return;
    const rows = [...byKey.values()].map((e) => ({
      run_id: e.runId,
      step: e.step,
      direction: e.direction,
      name: e.name,
      hash: e.hash,
      uri: e.uri,
    }));
    await this.#q((sql) =>
      sql`INSERT INTO lineage ${sql(rows)}
        ON CONFLICT (run_id, step, direction, name) DO UPDATE SET hash = excluded.hash, uri = excluded.uri`
    );
  }

  /** Edges of a run and/or of an artifact hash, in the order they were recorded. */
  override async getLineage(q: { runId?: string; hash?: string }): Promise<LineageEdge[]> {
    const rows = await this.#q((sql) =>
      sql`SELECT * FROM lineage
        WHERE (${q.runId ?? null}::text IS NULL OR run_id = ${q.runId ?? null})
          AND (${q.hash ?? null}::text IS NULL OR hash = ${q.hash ?? null})
        ORDER BY id`
    );
    return rows.map(toLineage);
  }

  /** Inserts the entry, replacing the one of the same run, step and key. */
  override async putCacheEntry(e: CacheEntry): Promise<void> {
    await this.#q((sql) =>
      sql`INSERT INTO cache_entries (key, step, run_id, param_hashes, read_all, outputs, created_at)
      VALUES (${e.key}, ${e.step}, ${e.runId}, ${json(sql, e.paramHashes)}, ${e.readAllParams},
        ${json(sql, e.outputs)}, ${e.createdAt})
      ON CONFLICT (run_id, step, key) DO UPDATE SET param_hashes = excluded.param_hashes,
        read_all = excluded.read_all, outputs = excluded.outputs, created_at = excluded.created_at`
    );
  }

  /** At most 20 entries under `key`, the most recently inserted first. */
  override async findCacheEntries(key: string): Promise<CacheEntry[]> {
    const rows = await this.#q((sql) =>
      sql`SELECT * FROM cache_entries WHERE key = ${key} ORDER BY id DESC LIMIT 20`
    );
    return rows.map((r) => toCacheEntry(r, decodeJsonValue));
  }

  /** Inserts the events in one statement. */
  override async recordAudit(events: AuditEvent[]): Promise<void> {
    if (!events.length) return;
    const rows = events.map((e) => ({
      run_id: e.runId,
      actor: e.actor,
      op: e.op,
      resource: e.resource,
      allowed: e.allowed,
      detail: e.detail ?? null,
      at: e.at,
    }));
    await this.#q((sql) => sql`INSERT INTO audit ${sql(rows)}`);
  }

  /** The run's audit events in the order they were recorded. */
  override async listAudit(runId: string): Promise<AuditEvent[]> {
    const rows = await this.#q((sql) =>
      sql`SELECT * FROM audit WHERE run_id = ${runId} ORDER BY id`
    );
    return rows.map(toAudit);
  }

  /** Upserts the metrics in one statement: one row per (run, step, name), the last value wins. */
  override async logMetrics(metrics: MetricRecord[]): Promise<void> {
    if (!metrics.length) return;
    const last = new Map(metrics.map((m) => [JSON.stringify([m.runId, m.step, m.name]), m]));
    const rows = [...last.values()].map((m) => ({
      run_id: m.runId,
      step: m.step,
      name: m.name,
      value: m.value,
      at: m.at,
    }));
    await this.#q((sql) =>
      sql`INSERT INTO metrics ${sql(rows)}
        ON CONFLICT (run_id, step, name) DO UPDATE SET value = excluded.value, at = excluded.at`
    );
  }

  /** Metrics of a run and/or with a name, oldest first. */
  override async listMetrics(
    q: { runId?: string; step?: string; name?: string },
  ): Promise<MetricRecord[]> {
    const rows = await this.#q((sql) =>
      sql`SELECT * FROM metrics
        WHERE (${q.runId ?? null}::text IS NULL OR run_id = ${q.runId ?? null})
          AND (${q.name ?? null}::text IS NULL OR name = ${q.name ?? null})
          AND (${q.step ?? null}::text IS NULL OR step = ${q.step ?? null})
        ORDER BY id`
    );
    return rows.map(toMetric);
  }

  /** Appends step log lines in one statement (kernel/step_logs.ts). */
  async appendStepLogs(lines: StepLogLine[]): Promise<void> {
    if (!lines.length) return;
    const rows = lines.map((l) => ({
      run_id: l.runId,
      step: l.step,
      attempt: l.attempt,
      line: l.line,
      at: l.at,
    }));
    await this.#q((sql) => sql`INSERT INTO step_logs ${sql(rows)}`);
  }

  /** Log lines of a run (or one of its steps), in the order they were logged. */
  async listStepLogs(runId: string, step?: string): Promise<StepLogLine[]> {
    const rows = await this.#q((sql) =>
      sql`SELECT * FROM step_logs WHERE run_id = ${runId}
        AND (${step ?? null}::text IS NULL OR step = ${step ?? null}) ORDER BY id`
    );
    return rows.map(toStepLog);
  }
}

// deno-lint-ignore no-explicit-any
function json(sql: Sql, v: unknown): any {
  return v === undefined || v === null ? null : sql.json(v as postgres.JSONValue);
}
