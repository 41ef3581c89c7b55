/**
 * Config schema of `PostgresMetadataStore` (`type: postgres`). Kept apart
 * from the store so configs validate without loading `npm:postgres`.
 * @module
 */
import { z } from "zod";

/** Config schema of the PostgreSQL metadata store. */
export const postgresMetadataStoreSchema = z.object({
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
