/**
 * Config schema of `PostgresMetadataStore` (`type: postgres`). Kept apart
 * from the store so configs validate without loading `npm:postgres`.
 * @module
 */
import { z } from "zod";
import type { Schema } from "../../kernel/schema.ts";

/**
 * Options of the `PostgresMetadataStore` constructor: what
 * `metadata_store: { type: postgres, … }` may set.
 */
export interface PostgresMetadataStoreOptions {
  /** Instance name (default `postgres`). */
  name?: string;
  /** Connection URL, e.g. `postgres://user:pass@host:5432/db`. */
  url: string;
  /** Schema holding flowyml's tables: lower-case letters, digits and `_` (default `public`). */
  schema?: string;
  /** Size of the connection pool (default 10). */
  maxConnections?: number;
  /** Give up connecting after this many seconds (default 10). */
  connectTimeoutS?: number;
  /** Artifacts up to this many bytes are stored in the database; 0: never (default 65536). */
  inlineMaxBytes?: number;
  /**
   * TLS mode: `true`/`false`, or `require`, `prefer`, `allow`, `verify-full` (default: as the URL's
   * `sslmode` says).
   */
  ssl?: boolean | "require" | "prefer" | "allow" | "verify-full";
}

/** Parsed options: {@linkcode PostgresMetadataStoreOptions} with their defaults applied. */
export type PostgresMetadataStoreConfig =
  & PostgresMetadataStoreOptions
  & Required<
    Pick<
      PostgresMetadataStoreOptions,
      "schema" | "maxConnections" | "connectTimeoutS" | "inlineMaxBytes"
    >
  >;

const postgresMetadataStoreObject = z.object({
  name: z.string().optional(),
  url: z.string().min(1).describe("connection URL, e.g. postgres://user:pass@host:5432/db"),
  schema: z.string().regex(/^[a-z_][a-z0-9_]*$/, "use lower-case letters, digits and _")
    .default("public").describe("schema holding flowyml's tables"),
  maxConnections: z.number().int().positive().default(10).describe("connection pool size"),
  connectTimeoutS: z.number().positive().default(10).describe(
    "give up connecting after this many seconds",
  ),
  inlineMaxBytes: z.number().int().nonnegative().default(64 * 1024).describe(
    "artifacts up to this size are stored in the database (0: never)",
  ),
  ssl: z.union([z.boolean(), z.enum(["require", "prefer", "allow", "verify-full"])]).optional()
    .describe("TLS mode (default: as the URL's sslmode says)"),
}).strict();

/** Config schema of `type: postgres` (parses to {@linkcode PostgresMetadataStoreConfig}). */
export const postgresMetadataStoreSchema: Schema<PostgresMetadataStoreConfig> =
  postgresMetadataStoreObject;
// The declared types are what the schema accepts and returns: `deno check` fails when they drift.
const _declared: z.ZodType<PostgresMetadataStoreConfig, PostgresMetadataStoreOptions> =
  postgresMetadataStoreObject;
