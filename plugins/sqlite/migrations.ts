/**
 * Versioned schema migrations of the SQLite metadata store. Append only:
 * migration N is applied once, in order, and recorded in `schema_migrations`.
 * @module
 */
import type { DatabaseSync } from "node:sqlite";

type Row = Record<string, unknown>;

/** Migration SQL, index 0 is version 1. */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE runs (
     run_id TEXT PRIMARY KEY, pipeline TEXT NOT NULL, status TEXT NOT NULL, stack TEXT NOT NULL,
     params TEXT, started_at INTEGER NOT NULL, ended_at INTEGER, error TEXT, pipeline_hash TEXT,
     image TEXT, extra TEXT);
   CREATE INDEX runs_pipeline ON runs (pipeline, started_at);
   CREATE TABLE step_runs (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE, step TEXT NOT NULL,
     status TEXT NOT NULL, started_at INTEGER, ended_at INTEGER, duration_ms REAL,
     cached INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, error TEXT, error_stack TEXT,
     worker TEXT, cache_key TEXT, outputs TEXT, UNIQUE (run_id, step));
   CREATE TABLE artifacts (
     run_id TEXT NOT NULL, step TEXT NOT NULL, name TEXT NOT NULL, hash TEXT NOT NULL, path TEXT NOT NULL,
     uri TEXT NOT NULL, size INTEGER NOT NULL, serializer TEXT NOT NULL, serializer_version INTEGER NOT NULL,
     meta TEXT, created_at INTEGER NOT NULL, PRIMARY KEY (run_id, step, name));
   CREATE INDEX artifacts_hash ON artifacts (hash);
   CREATE TABLE lineage (
     run_id TEXT NOT NULL, step TEXT NOT NULL, direction TEXT NOT NULL, name TEXT NOT NULL,
     hash TEXT NOT NULL, uri TEXT NOT NULL, PRIMARY KEY (run_id, step, direction, name));
   CREATE INDEX lineage_hash ON lineage (hash);
   CREATE TABLE cache_entries (
     id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, step TEXT NOT NULL, run_id TEXT NOT NULL,
     param_hashes TEXT NOT NULL, read_all INTEGER NOT NULL, outputs TEXT NOT NULL, created_at INTEGER NOT NULL);
   CREATE INDEX cache_key ON cache_entries (key);`,
  `CREATE TABLE audit (
     id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, actor TEXT NOT NULL, op TEXT NOT NULL,
     resource TEXT NOT NULL, allowed INTEGER NOT NULL, detail TEXT, at INTEGER NOT NULL);
   CREATE INDEX audit_run ON audit (run_id);`,
  `CREATE TABLE metrics (
     id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, step TEXT NOT NULL, name TEXT NOT NULL,
     value REAL NOT NULL, at INTEGER NOT NULL);
   CREATE INDEX metrics_run ON metrics (run_id);
   CREATE INDEX metrics_name ON metrics (name);`,
  // 4: run liveness (who drives the run, its last heartbeat) and the run's cache setting.
  `ALTER TABLE runs ADD COLUMN pid INTEGER;
   ALTER TABLE runs ADD COLUMN host TEXT;
   ALTER TABLE runs ADD COLUMN heartbeat_at INTEGER;
   ALTER TABLE runs ADD COLUMN cache INTEGER;`,
  // 5: exactly-once step completions and the run lease. A step's metrics and cache entry are
  // unique per (run, step[, name/key]), so recording a completion twice upserts the same rows;
  // duplicates left by earlier versions are dropped (the newest row is kept).
  `ALTER TABLE runs ADD COLUMN lease TEXT;
   DELETE FROM metrics WHERE id NOT IN (SELECT MAX(id) FROM metrics GROUP BY run_id, step, name);
   CREATE UNIQUE INDEX metrics_step_name ON metrics (run_id, step, name);
   DELETE FROM cache_entries WHERE id NOT IN
     (SELECT MAX(id) FROM cache_entries GROUP BY run_id, step, key);
   CREATE UNIQUE INDEX cache_entries_step ON cache_entries (run_id, step, key);`,
  // 6: step log lines (ctx.log), by attempt, for flowyml ui's step page.
  `CREATE TABLE step_logs (
     id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, step TEXT NOT NULL,
     attempt INTEGER NOT NULL, line TEXT NOT NULL, at INTEGER NOT NULL);
   CREATE INDEX step_logs_run ON step_logs (run_id, step);`,
  // 7: inline artifacts: small step outputs, content-addressed by sha256, committed in the
  // transaction of the step that made them (docs/artifacts.md).
  `CREATE TABLE blobs (
     hash TEXT PRIMARY KEY, bytes BLOB NOT NULL, size INTEGER NOT NULL, created_at INTEGER NOT NULL);`,
];

/** Apply pending migrations in one immediate transaction (safe across processes). */
export function migrate(db: DatabaseSync): void {
  db.exec(
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER)",
  );
  const current = Number(
    (db.prepare("SELECT COALESCE(MAX(version), 0) v FROM schema_migrations").get() as Row).v,
  );
  if (current >= MIGRATIONS.length) return;
  db.exec("BEGIN IMMEDIATE");
  try {
    const now = Number(
      (db.prepare("SELECT COALESCE(MAX(version), 0) v FROM schema_migrations").get() as Row).v,
    );
    for (let v = now + 1; v <= MIGRATIONS.length; v++) {
      db.exec(MIGRATIONS[v - 1]);
      db.prepare("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)").run(
        v,
        Date.now(),
      );
    }
    db.exec("COMMIT");
  } catch (err) {
    db.exec("ROLLBACK");
    throw err;
  }
}
