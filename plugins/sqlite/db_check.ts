/**
 * Checks run before the SQLite metadata store writes anything to a file: it
 * must be empty, a healthy flowyml database, or be refused untouched. A file
 * that is not SQLite, is truncated, was written by another program (FlowyML
 * for Python keeps its own `.flowyml/metadata.db` with a `runs` table) or by a
 * newer flowyml is refused with an error that names the file and the fix.
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { dirname } from "../../kernel/_path.ts";
import { FlowymlError, MissingPermissionError } from "../../kernel/errors.ts";
import { isFile } from "../../kernel/project.ts";

const MAGIC = "SQLite format 3\0";
const HEADER_BYTES = 100;

/** The fix shared by every refusal: another file, or this one moved aside. */
function fixFor(path: string): string {
  return `point the stack's metadata_store.path in flowyml.yaml at another file ` +
    `(e.g. .flowyml/flowyml.db), or move ${path} aside (mv ${path} ${path}.bak) ` +
    `to start an empty run history`;
}

/** `path` is not a flowyml database, or is damaged; `why` is what was seen. */
export function damagedDatabase(path: string, why: string, cause?: unknown): FlowymlError {
  return new FlowymlError(
    `SQLite metadata store: ${path} is not a flowyml metadata database, or it is damaged (${why})`,
    { hint: fixFor(path), cause },
  );
}

/** True for SQLite's "file is not a database" (26) and "disk image is malformed" (11). */
export function isCorruption(err: unknown): boolean {
  const code = (err as { errcode?: number } | null)?.errcode;
  return code === 11 || code === 26;
}

/**
 * Reads the 100-byte header of `path` (when it exists and is not empty) and
 * refuses a file that is not SQLite or is shorter than its header says (when no
 * WAL file shows a live writer).
 * Writes nothing.
 */
export function checkHeader(path: string): void {
  let size: number;
  try {
    size = Deno.statSync(path).size;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    throw err;
  }
  if (size === 0) return;
  const head = new Uint8Array(HEADER_BYTES);
  const file = Deno.openSync(path, { read: true });
  let got = 0;
  try {
    while (got < HEADER_BYTES) {
      const n = file.readSync(head.subarray(got));
      if (n === null) break;
      got += n;
    }
  } finally {
    file.close();
  }
  if (got < HEADER_BYTES || new TextDecoder().decode(head.subarray(0, 16)) !== MAGIC) {
    throw damagedDatabase(path, `no SQLite header in its first ${HEADER_BYTES} bytes`);
  }
  const view = new DataView(head.buffer);
  const pageSize = view.getUint16(16) === 1 ? 65536 : view.getUint16(16);
  const pages = view.getUint32(28);
  const countValid = view.getUint32(24) === view.getUint32(92);
  // With a WAL file beside it, another connection may be checkpointing: it writes page 1 (the
  // new page count) before the pages that grow the file, so a short file is not damage then.
  if (countValid && pages > 0 && size < pages * pageSize && !isFile(`${path}-wal`)) {
    throw damagedDatabase(
      path,
      `truncated: ${size} bytes, its header says ${pages} pages of ${pageSize} bytes`,
    );
  }
}

/**
 * Refuses, before any write, a database whose tables are not flowyml's: tables
 * but no `schema_migrations`, a `runs` table without flowyml's columns, or a
 * schema version newer than `latest`. An empty database passes.
 */
export function checkSchema(db: DatabaseSync, path: string, latest: number): void {
  let tables: string[];
  try {
    tables = (db.prepare(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    ).all() as { name: string }[]).map((r) => r.name);
  } catch (err) {
    if (isCorruption(err)) throw damagedDatabase(path, (err as Error).message, err);
    throw err;
  }
  if (!tables.length) return;
  const runCols = tables.includes("runs")
    ? (db.prepare("SELECT name FROM pragma_table_info('runs')").all() as { name: string }[])
      .map((r) => r.name)
    : [];
  const ours = tables.includes("schema_migrations") &&
    (!tables.includes("runs") || ["run_id", "pipeline", "stack"].every((c) => runCols.includes(c)));
  if (!ours) {
    throw new FlowymlError(
      `SQLite metadata store: ${path} was written by another program, not flowyml ` +
        `(tables: ${tables.slice(0, 8).join(", ")}${tables.length > 8 ? ", …" : ""}); ` +
        `flowyml left it unchanged. FlowyML for Python keeps its own .flowyml/metadata.db`,
      { hint: fixFor(path) },
    );
  }
  const row = db.prepare("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations").get() as {
    v: number;
  };
  if (Number(row.v) > latest) {
    throw new FlowymlError(
      `SQLite metadata store: ${path} has schema version ${row.v}, written by a newer flowyml; ` +
        `this one knows versions up to ${latest} and left the file unchanged`,
      { hint: `upgrade flowyml, or ${fixFor(path)}` },
    );
  }
}

/**
 * True when `path` exists and this process may read but not write it: the store then opens it
 * read-only, so `runs list`, `runs show` and other readers need no write permission.
 */
export function readOnlyAccess(path: string): boolean {
  if (path === ":memory:") return false;
  try {
    if (!Deno.statSync(path).isFile) return false;
  } catch {
    return false; // missing (created on first write) or not readable: the open reports it
  }
  return Deno.permissions.querySync({ name: "write", path }).state !== "granted";
}

/** A read-only database must already have the current schema: migrating needs write access. */
export function requireCurrentSchema(db: DatabaseSync, path: string, latest: number): void {
  const row = db.prepare("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations").get() as {
    v: number;
  };
  if (Number(row.v) < latest) {
    throw new MissingPermissionError(
      `SQLite metadata store: upgrading ${path} from schema version ${row.v} to ${latest}`,
      `--allow-write=${dirname(path)}`,
    );
  }
}

/** SQLite's "attempt to write a readonly database" (8), for a store opened read-only. */
export function readOnlyWrite(path: string, err: unknown): MissingPermissionError | undefined {
  if ((err as { errcode?: number } | null)?.errcode !== 8) return undefined;
  return new MissingPermissionError(
    `SQLite metadata store: writing ${path}`,
    `--allow-write=${dirname(path)}`,
    err,
  );
}
