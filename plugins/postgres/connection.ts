/**
 * The PostgreSQL metadata store's connection: opening the `npm:postgres` pool
 * (migrated on first connect, see migrations.ts), turning driver errors into
 * clear ones (server unreachable, authentication failed, database missing,
 * a missing Deno permission), and keeping passwords out of what it shows.
 * @module
 */
import postgres from "postgres";
import {
  describeError,
  FlowymlError,
  isPermissionError,
  MissingPermissionError,
} from "../../kernel/errors.ts";
import type { PostgresMetadataStoreOptions } from "./config.ts";
import { migrate } from "./migrations.ts";

type Sql = postgres.Sql;

/** The URL with its password replaced by `***`. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.href;
  } catch {
    return url.replace(/:[^:@/]*@/, ":***@");
  }
}

/** `host:port` of a database URL (port 5432 by default). */
export function hostPort(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || 5432}`;
  } catch {
    return "the database host";
  }
}

/**
 * A driver error on the database at `url` as an error naming the fix (a
 * missing permission, an unreachable server, bad credentials, a missing
 * database); any other error unchanged.
 */
export function explainPgError(err: unknown, url: string): unknown {
  if (err instanceof FlowymlError) return err;
  if (isPermissionError(err)) {
    const msg = (err as Error).message;
    const flag = /env/i.test(msg)
      ? "--allow-env"
      : /read/i.test(msg)
      ? "--allow-read"
      : `--allow-net=${hostPort(url)}`;
    return new MissingPermissionError(
      `PostgreSQL metadata store at ${hostPort(url)}`,
      flag,
      err,
    );
  }
  const code = (err as { code?: string })?.code;
  if (code === "ECONNREFUSED" || code === "CONNECT_TIMEOUT" || code === "ENOTFOUND") {
    return new FlowymlError(
      `PostgreSQL metadata store: cannot connect to ${redactUrl(url)} (${code})`,
      { hint: "start the server, or fix metadata_store.url (host, port, database)", cause: err },
    );
  }
  if (code === "28P01" || code === "28000") {
    return new FlowymlError(
      `PostgreSQL metadata store: authentication failed for ${redactUrl(url)}`,
      { hint: "check the user and password in metadata_store.url", cause: err },
    );
  }
  if (code === "3D000") {
    return new FlowymlError(`PostgreSQL metadata store: ${describeError(err)}`, {
      hint: "create the database (createdb NAME) or fix the database name in metadata_store.url",
      cause: err,
    });
  }
  return err;
}

/** Where and how to connect (the store's settings). */
export interface PoolOptions {
  url: string;
  schema: string;
  maxConnections: number;
  connectTimeoutS: number;
  ssl?: PostgresMetadataStoreOptions["ssl"];
}

/**
 * Open the connection pool and apply pending migrations. On failure the pool
 * is closed and the error explained ({@linkcode explainPgError}).
 */
export async function openPool(o: PoolOptions): Promise<Sql> {
  let sql: Sql | undefined;
  try {
    sql = postgres(o.url, {
      max: o.maxConnections,
      connect_timeout: o.connectTimeoutS,
      onnotice: () => {},
      ...(o.ssl !== undefined ? { ssl: o.ssl } : {}),
      ...(o.schema !== "public" ? { connection: { search_path: o.schema } } : {}),
    });
    await migrate(sql, o.schema);
    return sql;
  } catch (err) {
    await sql?.end({ timeout: 1 }).catch(() => {});
    throw explainPgError(err, o.url);
  }
}
