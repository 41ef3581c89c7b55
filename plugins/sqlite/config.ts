/**
 * Config schema of the SQLite metadata store (`metadata_store: { type: sqlite, … }`),
 * loaded on first need (`SQLiteMetadataStore.loadConfigSchema`) so `import "flowyml"`
 * does not load zod.
 * @module
 */
import { z } from "zod";
import { INLINE_MAX_BYTES } from "./defaults.ts";

export { INLINE_MAX_BYTES };

/** Config schema of the SQLite metadata store. */
export const sqliteMetadataStoreSchema = z.object({
  name: z.string().optional(),
  path: z.string().default(".flowyml/metadata.db").describe("database file, or :memory:"),
  busyTimeoutMs: z.number().int().nonnegative().default(10_000).describe(
    "wait this long for a lock",
  ),
  inlineMaxBytes: z.number().int().nonnegative().default(INLINE_MAX_BYTES).describe(
    "artifacts up to this size are stored in the database (0: never)",
  ),
}).strict();
