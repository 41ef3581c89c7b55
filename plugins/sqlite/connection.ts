/**
 * The SQLite metadata store's database file: opening it (checked first, see
 * db_check.ts; then created and migrated, or opened read-only by a reader
 * without write access) and turning SQLite and permission errors into ones
 * that name the file and the fix (a damaged or foreign file, a read-only
 * database, a missing Deno permission).
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { dirname } from "../../kernel/_path.ts";
import { absolutePath } from "../../kernel/project.ts";
import { isPermissionError, MissingPermissionError } from "../../kernel/errors.ts";
import { migrate, MIGRATIONS } from "./migrations.ts";
import {
  checkHeader,
  checkSchema,
  damagedDatabase,
  isCorruption,
  readOnlyAccess,
  readOnlyWrite,
  requireCurrentSchema,
} from "./db_check.ts";

/**
 * An error on the database at `path` as one naming the fix (a damaged file, a write to a
 * database opened read-only, a missing permission on its folder); any other error unchanged.
 */
export function explainSqliteError(err: unknown, path: string): unknown {
  if (isCorruption(err)) return damagedDatabase(path, (err as Error).message, err);
  const ro = readOnlyWrite(path, err);
  if (ro) return ro;
  if (!isPermissionError(err)) return err;
  const dir = path === ":memory:" ? "." : dirname(path);
  return new MissingPermissionError(
    `SQLite metadata store: access to ${path}`,
    `--allow-read=${dir} --allow-write=${dir}`,
    err,
  );
}

/**
 * Open the database at `path` (or `:memory:`), waiting up to `busyTimeoutMs` for another
 * writer's lock. A file this process may only read is opened read-only and must already have
 * the current schema; otherwise its folder is created, WAL mode set and migrations applied.
 * Throws the error explained ({@linkcode explainSqliteError}).
 */
export function openDatabase(path: string, busyTimeoutMs: number): DatabaseSync {
  try {
    // Readers without write access (runs list/show under narrow flags) open it read-only.
    const readOnly = readOnlyAccess(path);
    if (path !== ":memory:" && !readOnly) {
      Deno.mkdirSync(dirname(absolutePath(path)), { recursive: true });
    }
    if (path !== ":memory:") checkHeader(path);
    const db = new DatabaseSync(path, { readOnly });
    db.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
    try {
      checkSchema(db, path, MIGRATIONS.length);
      if (readOnly) requireCurrentSchema(db, path, MIGRATIONS.length);
    } catch (err) {
      db.close();
      throw err;
    }
    if (readOnly) return db;
    if (path !== ":memory:") db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec("PRAGMA foreign_keys = ON");
    migrate(db);
    return db;
  } catch (err) {
    throw explainSqliteError(err, path);
  }
}
