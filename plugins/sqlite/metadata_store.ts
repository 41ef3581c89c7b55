/**
 * `SQLiteMetadataStore` (`type: sqlite`): runs, step runs, artifacts, lineage,
 * the step cache and the audit trail in one SQLite file, through the built-in
 * `node:sqlite` (no native download). WAL mode plus a busy timeout make it
 * safe for parallel steps and for several `flowyml` processes on one file.
 *
 * Opening the file (and explaining its errors) is in `connection.ts`, the
 * statements that write records and the completion transaction in
 * `writes.ts`, the group commit of step completions in `group_commit.ts`.
 * @module
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { absolutePath } from "../../kernel/project.ts";
import {
  MetadataStore,
  type RecordCompletionOptions,
  type StepCompletion,
} from "../../kernel/contracts.ts";
import { FlowymlError, MissingPermissionError } from "../../kernel/errors.ts";
import type { PermissionNeeds } from "../../kernel/component.ts";
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
  INLINE_MAX_BYTES,
  type SQLiteMetadataStoreOptions,
  sqliteMetadataStoreSchema,
  sqliteNeeds,
} from "./config.ts";
import { GroupCommit } from "./group_commit.ts";
import type { StepLogLine } from "../../kernel/step_logs.ts";
import { explainSqliteError, openDatabase } from "./connection.ts";
import {
  commitCompletions,
  type Exec,
  insertAudit,
  insertRun,
  insertStepLogs,
  replaceArtifact,
  replaceLineage,
  updateRun,
  upsertCacheEntry,
  upsertMetrics,
  upsertStepRun,
} from "./writes.ts";
import {
  decodeJsonText,
  type Row,
  toArtifact,
  toAudit,
  toCacheEntry,
  toLineage,
  toMetric,
  toRun,
  toStepLog,
  toStepRun,
} from "../_sql/rows.ts";

export { INLINE_MAX_BYTES, sqliteMetadataStoreSchema };

const utf8 = new TextEncoder();

/** Tracks runs in SQLite. */
export class SQLiteMetadataStore extends MetadataStore {
  /** Registry type: `type: sqlite` in `flowyml.yaml`. */
  static readonly type = "sqlite";
  /** Validates the `metadata_store:` options of a stack. */
  static readonly configSchema: typeof sqliteMetadataStoreSchema = sqliteMetadataStoreSchema;
  /** Database file, or `:memory:`. Default `.flowyml/metadata.db`. */
  readonly path: string;
  /** How long to wait for another writer's lock, in ms. Default `10_000`. */
  readonly busyTimeoutMs: number;
  /**
   * Artifacts up to this many bytes are stored in the database's `blobs` table, in the
   * transaction of the step that made them, when the run's steps execute in this process
   * (docs/artifacts.md). Default 64 KiB; `0` disables it.
   */
  override readonly inlineMaxBytes: number;
  #db?: DatabaseSync;
  #group = new GroupCommit((list, blobs) => commitCompletions(this.db, this.#exec, list, blobs), {
    explain: (err) => this.#perm(err),
  });
  #stmts = new Map<string, StatementSync>();
  /** The writes of writes.ts go through `#run`. */
  #exec: Exec = (sql, ...args) => this.#run(sql, ...args);

  /** Nothing is opened until first use; the database is created and migrated then. */
  constructor(options: SQLiteMetadataStoreOptions = {}) {
    super(options.name ?? "sqlite");
    this.path = options.path ?? ".flowyml/metadata.db";
    this.busyTimeoutMs = options.busyTimeoutMs ?? 10_000;
    this.inlineMaxBytes = options.inlineMaxBytes ?? INLINE_MAX_BYTES;
  }

  #perm(err: unknown): unknown {
    return explainSqliteError(err, this.path);
  }

  /** The open database, created and migrated on first use. */
  get db(): DatabaseSync {
    return this.#db ??= openDatabase(this.path, this.busyTimeoutMs);
  }

  #stmt(sql: string): StatementSync {
    let s = this.#stmts.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.#stmts.set(sql, s);
    }
    return s;
  }

  /** Runs a write; completions and blobs waiting for their group commit are committed first. */
  #run(sql: string, ...args: unknown[]): number {
    if (!this.#group.idle) this.#group.flush();
    try {
      // deno-lint-ignore no-explicit-any
      return Number(this.#stmt(sql).run(...(args as any[])).changes);
    } catch (err) {
      throw this.#perm(err);
    }
  }

  /** Runs a read; completions and blobs waiting for their group commit are committed first. */
  #all(sql: string, ...args: unknown[]): Row[] {
    if (!this.#group.idle) this.#group.flush();
    return this.#read(sql, ...args);
  }

  /** A read that does not wait for the group commit (cache lookups, blobs). */
  #read(sql: string, ...args: unknown[]): Row[] {
    try {
      // deno-lint-ignore no-explicit-any
      return this.#stmt(sql).all(...(args as any[])) as Row[];
    } catch (err) {
      throw this.#perm(err);
    }
  }

  /** Schema version after migrations. */
  schemaVersion(): number {
    return Number((this.db.prepare("SELECT MAX(version) v FROM schema_migrations").get() as Row).v);
  }

  /** Opens (creating and migrating) the database; throws with a fix hint if that fails. */
  override validate(): boolean {
    try {
      this.db.prepare("SELECT 1").get();
      return true;
    } catch (err) {
      if (err instanceof MissingPermissionError) throw err;
      throw new FlowymlError(`SQLite metadata store at ${this.path}: ${(err as Error).message}`, {
        hint: "check the path is a writable file (or :memory:)",
      });
    }
  }

  /** `{ type: "sqlite", path }`. */
  override toDict(): Record<string, unknown> {
    return {
      type: "sqlite",
      path: this.path,
      ...(this.inlineMaxBytes !== INLINE_MAX_BYTES ? { inlineMaxBytes: this.inlineMaxBytes } : {}),
    };
  }

  /** Read and write on the database's folder (WAL and journal files live beside it). */
  override permissions(): PermissionNeeds {
    return sqliteNeeds(this.path);
  }

  /** The same needs from a validated config, unbuilt: the launcher asks this (cli/plan.ts). */
  static permissionsFor(config: { path?: unknown }): PermissionNeeds {
    return sqliteNeeds(config.path);
  }

  /** Commits batched completions and blobs, then closes the database; throws if that fails. */
  override close(): void {
    this.#group.flush();
    this.#stmts.clear();
    this.#db?.close();
    this.#db = undefined;
    const failed = this.#group.takeError();
    if (failed) throw failed;
  }

  /** Commits the completions and blobs waiting for their group commit. */
  override flush(): Promise<void> {
    try {
      this.#group.flush();
    } catch (err) {
      return Promise.reject(err);
    }
    const failed = this.#group.takeError();
    return failed ? Promise.reject(failed) : Promise.resolve();
  }

  /** Stages an inline artifact's bytes: committed in the next completion's transaction. */
  override putBlob(hash: string, bytes: Uint8Array): void {
    this.#group.stage(hash, bytes);
  }

  /** An inline artifact's bytes (staged or committed), unverified; TEXT edited in: its UTF-8. */
  override getBlob(hash: string): Promise<Uint8Array | undefined> {
    const staged = this.#group.staged(hash);
    if (staged) return Promise.resolve(staged);
    const b = this.#read("SELECT bytes FROM blobs WHERE hash = ?", hash)[0]?.bytes;
    return Promise.resolve(b === undefined || b instanceof Uint8Array ? b : utf8.encode(`${b}`));
  }

  /** Hash and size of every inline artifact. */
  override listBlobs(): Promise<{ hash: string; size: number }[]> {
    const rows = this.#all("SELECT hash, size FROM blobs ORDER BY hash");
    return Promise.resolve(rows.map((r) => ({ hash: String(r.hash), size: Number(r.size) })));
  }

  /** `sqlite:<absolute path>#blobs/<hash>`. */
  override blobUri(hash: string): string {
    const file = this.path === ":memory:" ? this.path : absolutePath(this.path);
    return `sqlite:${file}#blobs/${hash}`;
  }

  /** Inserts the run; fails if the run id already exists. */
  override createRun(r: RunRecord): Promise<void> {
    insertRun(this.#exec, r);
    return Promise.resolve();
  }

  /** Sets only the columns whose fields appear in `patch`. */
  override updateRun(runId: string, patch: Partial<RunRecord>): Promise<void> {
    updateRun(this.#exec, runId, patch);
    return Promise.resolve();
  }

  /** One conditional `UPDATE`: only while the run holds the lease token `lease`. */
  override updateRunLeased(
    runId: string,
    patch: Partial<RunRecord>,
    options: { lease: string | null },
  ): Promise<boolean> {
    return Promise.resolve(updateRun(this.#exec, runId, patch, options.lease) > 0);
  }

  /** Reads the run row by id. */
  override getRun(runId: string): Promise<RunRecord | undefined> {
    const rows = this.#all("SELECT * FROM runs WHERE run_id = ?", runId);
    return Promise.resolve(rows[0] ? toRun(rows[0], decodeJsonText) : undefined);
  }

  /** Newest first by start time; at most `limit` runs (default 50). */
  override listRuns(q: RunQuery = {}): Promise<RunRecord[]> {
    const rows = this.#all(
      `SELECT * FROM runs WHERE (?1 IS NULL OR pipeline = ?1) AND (?2 IS NULL OR status = ?2)
       ORDER BY started_at DESC, run_id DESC LIMIT ?3`,
      q.pipeline ?? null,
      q.status ?? null,
      q.limit ?? 50,
    );
    return Promise.resolve(rows.map((r) => toRun(r, decodeJsonText)));
  }

  /**
   * Inserts or replaces the row keyed by run id and step name. A completed (or cached) record is
   * never replaced by an unfinished one (a late "running", a stale driver's "cancelled").
   */
  override upsertStepRun(s: StepRunRecord): Promise<void> {
    upsertStepRun(this.#exec, s);
    return Promise.resolve();
  }

  /** Step runs in the order they were first recorded. */
  override listStepRuns(runId: string): Promise<StepRunRecord[]> {
    const rows = this.#all("SELECT * FROM step_runs WHERE run_id = ? ORDER BY seq", runId);
    return Promise.resolve(rows.map((r) => toStepRun(r, decodeJsonText)));
  }

  /** Inserts or replaces the artifact row (keyed by run, step and name). */
  override recordArtifact(a: ArtifactRecord): Promise<void> {
    replaceArtifact(this.#exec, a);
    return Promise.resolve();
  }

  /** Artifacts of a run, oldest first, then by name. */
  override listArtifacts(runId: string): Promise<ArtifactRecord[]> {
    const rows = this.#all(
      "SELECT * FROM artifacts WHERE run_id = ? ORDER BY created_at, name",
      runId,
    );
    return Promise.resolve(rows.map((r) => toArtifact(r, decodeJsonText)));
  }

  /** Inserts the edges; an edge recorded twice is stored once. */
  override recordLineage(edges: LineageEdge[]): Promise<void> {
    replaceLineage(this.#exec, edges);
    return Promise.resolve();
  }

  /** Edges filtered by run and/or hash, in insertion order. */
  override getLineage(q: { runId?: string; hash?: string }): Promise<LineageEdge[]> {
    const rows = this.#all(
      `SELECT * FROM lineage WHERE (?1 IS NULL OR run_id = ?1) AND (?2 IS NULL OR hash = ?2) ORDER BY rowid`,
      q.runId ?? null,
      q.hash ?? null,
    );
    return Promise.resolve(rows.map(toLineage));
  }

  /**
   * Inserts a cache entry; several entries may share a key (different params, other runs). One
   * entry per (run, step, key): recording it again replaces it.
   */
  override putCacheEntry(e: CacheEntry): Promise<void> {
    upsertCacheEntry(this.#exec, e);
    return Promise.resolve();
  }

  /**
   * Entries for `key`, newest first (at most 20). Committed entries only: this lookup does not
   * wait for the group commit (an entry still waiting is a miss, and the step runs).
   */
  override findCacheEntries(key: string): Promise<CacheEntry[]> {
    const rows = this.#read(
      "SELECT * FROM cache_entries WHERE key = ? ORDER BY id DESC LIMIT 20",
      key,
    );
    return Promise.resolve(rows.map((r) => toCacheEntry(r, decodeJsonText)));
  }

  /**
   * Group commit (plugins/sqlite/group_commit.ts): completions share one transaction with the
   * others of the same event-loop turn, or with `defer`, of the next millisecond. Synchronous
   * inside, so concurrent steps cannot interleave. If a shared commit fails, each completion is
   * retried in a transaction of its own, so only the faulty one is lost.
   */
  override recordStepCompletion(
    c: StepCompletion,
    options: RecordCompletionOptions = {},
  ): Promise<void> {
    return this.#group.add(c, !!options.defer);
  }

  /** Appends the events in one transaction. */
  override recordAudit(events: AuditEvent[]): Promise<void> {
    insertAudit(this.#exec, events);
    return Promise.resolve();
  }

  /** Audit events of a run in the order they were recorded. */
  override listAudit(runId: string): Promise<AuditEvent[]> {
    const rows = this.#all("SELECT * FROM audit WHERE run_id = ? ORDER BY id", runId);
    return Promise.resolve(rows.map(toAudit));
  }

  /**
   * Inserts each metric (inside the caller's transaction when there is one); one row per (run,
   * step, name): logging a name again replaces its value.
   */
  override logMetrics(metrics: MetricRecord[]): Promise<void> {
    upsertMetrics(this.#exec, metrics);
    return Promise.resolve();
  }

  /** Metrics of a run and/or with a name, oldest first. */
  override listMetrics(
    q: { runId?: string; step?: string; name?: string },
  ): Promise<MetricRecord[]> {
    const rows = this.#all(
      `SELECT * FROM metrics WHERE (?1 IS NULL OR run_id = ?1) AND (?2 IS NULL OR name = ?2)
       AND (?3 IS NULL OR step = ?3) ORDER BY id`,
      q.runId ?? null,
      q.name ?? null,
      q.step ?? null,
    );
    return Promise.resolve(rows.map(toMetric));
  }

  /** Appends step log lines in one transaction (kernel/step_logs.ts). */
  appendStepLogs(lines: StepLogLine[]): Promise<void> {
    if (!this.#group.idle) this.#group.flush(); // not inside the transaction below
    insertStepLogs(this.db, this.#exec, lines);
    return Promise.resolve();
  }

  /** Log lines of a run (or one of its steps), in the order they were logged. */
  listStepLogs(runId: string, step?: string): Promise<StepLogLine[]> {
    const rows = this.#all(
      "SELECT * FROM step_logs WHERE run_id = ?1 AND (?2 IS NULL OR step = ?2) ORDER BY id",
      runId,
      step ?? null,
    );
    return Promise.resolve(rows.map(toStepLog));
  }
}
