/**
 * Versioned schema migrations of the PostgreSQL metadata store, the same
 * story as the SQLite store's: append only, migration N is applied once, in
 * order, inside a transaction holding an advisory lock (so several processes
 * starting at once are safe), and recorded in `schema_migrations`.
 * Version N here creates the same tables as SQLite's version N.
 * {@linkcode migrate} applies the pending ones.
 * @module
 */
import type postgres from "postgres";

/** Migration SQL, index 0 is version 1. */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE runs (
     run_id TEXT PRIMARY KEY, pipeline TEXT NOT NULL, status TEXT NOT NULL, stack TEXT NOT NULL,
     params JSONB, started_at BIGINT NOT NULL, ended_at BIGINT, error TEXT, pipeline_hash TEXT,
     image TEXT, extra JSONB);
   CREATE INDEX runs_pipeline ON runs (pipeline, started_at);
   CREATE TABLE step_runs (
     seq BIGSERIAL PRIMARY KEY,
     run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE, step TEXT NOT NULL,
     status TEXT NOT NULL, started_at BIGINT, ended_at BIGINT, duration_ms DOUBLE PRECISION,
     cached BOOLEAN NOT NULL DEFAULT FALSE, attempts INTEGER NOT NULL DEFAULT 0, error TEXT,
     error_stack TEXT, worker TEXT, cache_key TEXT, outputs JSONB, UNIQUE (run_id, step));
   CREATE TABLE artifacts (
     run_id TEXT NOT NULL, step TEXT NOT NULL, name TEXT NOT NULL, hash TEXT NOT NULL, path TEXT NOT NULL,
     uri TEXT NOT NULL, size BIGINT NOT NULL, serializer TEXT NOT NULL, serializer_version INTEGER NOT NULL,
     meta JSONB, created_at BIGINT NOT NULL, PRIMARY KEY (run_id, step, name));
   CREATE INDEX artifacts_hash ON artifacts (hash);
   CREATE TABLE lineage (
     id BIGSERIAL UNIQUE, run_id TEXT NOT NULL, step TEXT NOT NULL, direction TEXT NOT NULL,
     name TEXT NOT NULL, hash TEXT NOT NULL, uri TEXT NOT NULL, PRIMARY KEY (run_id, step, direction, name));
   CREATE INDEX lineage_hash ON lineage (hash);
   CREATE TABLE cache_entries (
     id BIGSERIAL PRIMARY KEY, key TEXT NOT NULL, step TEXT NOT NULL, run_id TEXT NOT NULL,
     param_hashes JSONB NOT NULL, read_all BOOLEAN NOT NULL, outputs JSONB NOT NULL,
     created_at BIGINT NOT NULL);
   CREATE INDEX cache_key ON cache_entries (key);`,
  `CREATE TABLE audit (
     id BIGSERIAL PRIMARY KEY, run_id TEXT NOT NULL, actor TEXT NOT NULL, op TEXT NOT NULL,
     resource TEXT NOT NULL, allowed BOOLEAN NOT NULL, detail TEXT, at BIGINT NOT NULL);
   CREATE INDEX audit_run ON audit (run_id);`,
  `CREATE TABLE metrics (
     id BIGSERIAL PRIMARY KEY, run_id TEXT NOT NULL, step TEXT NOT NULL, name TEXT NOT NULL,
     value DOUBLE PRECISION NOT NULL, at BIGINT NOT NULL);
   CREATE INDEX metrics_run ON metrics (run_id);
   CREATE INDEX metrics_name ON metrics (name);`,
  // 4: run liveness (who drives the run, its last heartbeat) and the run's cache setting.
  `ALTER TABLE runs ADD COLUMN pid INTEGER, ADD COLUMN host TEXT, ADD COLUMN heartbeat_at BIGINT,
     ADD COLUMN cache BOOLEAN;`,
  // 5: exactly-once step completions and the run lease (as SQLite's version 5).
  `ALTER TABLE runs ADD COLUMN lease TEXT;
   DELETE FROM metrics WHERE id NOT IN (SELECT MAX(id) FROM metrics GROUP BY run_id, step, name);
   CREATE UNIQUE INDEX metrics_step_name ON metrics (run_id, step, name);
   DELETE FROM cache_entries WHERE id NOT IN
     (SELECT MAX(id) FROM cache_entries GROUP BY run_id, step, key);
   CREATE UNIQUE INDEX cache_entries_step ON cache_entries (run_id, step, key);`,
  // 6: step log lines (ctx.log), by attempt, for flowyml ui's step page (as SQLite's version 6).
  `CREATE TABLE step_logs (
     id BIGSERIAL PRIMARY KEY, run_id TEXT NOT NULL, step TEXT NOT NULL, attempt INTEGER NOT NULL,
     line TEXT NOT NULL, at BIGINT NOT NULL);
   CREATE INDEX step_logs_run ON step_logs (run_id, step);`,
  // 7: inline artifacts (as SQLite's version 7).
  `CREATE TABLE blobs (
     hash TEXT PRIMARY KEY, bytes BYTEA NOT NULL, size BIGINT NOT NULL, created_at BIGINT NOT NULL);`,
];

/**
 * Apply pending migrations in one transaction under an advisory lock keyed
 * by the schema, so concurrent first starts (driver and workers) are safe.
 */
export async function migrate(sql: postgres.Sql, schema: string): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(hashtext(${`flowyml-migrations:${schema}`}))`;
    if (schema !== "public") await tx.unsafe(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    await tx.unsafe(
      `CREATE TABLE IF NOT EXISTS "${schema}".schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT)`,
    );
    const [{ v }] = await tx.unsafe(
      `SELECT COALESCE(MAX(version), 0) v FROM "${schema}".schema_migrations`,
    );
    for (let ver = Number(v) + 1; ver <= MIGRATIONS.length; ver++) {
      await tx.unsafe(`SET LOCAL search_path TO "${schema}"`);
      await tx.unsafe(MIGRATIONS[ver - 1]);
      await tx.unsafe(
        `INSERT INTO "${schema}".schema_migrations (version, applied_at) VALUES ($1, $2)`,
        [
          ver,
          Date.now(),
        ],
      );
    }
  });
}
