/**
 * Config schema of the SQLite metadata store (`metadata_store: { type: sqlite, … }`),
 * built with the kernel's `objectSchema` (no zod: the store is part of
 * `import "flowyml"`, which loads no npm package).
 * @module
 */
import { dirname, normalize } from "../../kernel/_path.ts";
import type { PermissionNeeds } from "../../kernel/component.ts";
import { objectSchema, type SchemaInput } from "../../kernel/schema.ts";

/** Default `inlineMaxBytes` of the SQLite metadata store: 64 KiB. */
export const INLINE_MAX_BYTES = 64 * 1024;

/** Config schema of the SQLite metadata store. */
export const sqliteMetadataStoreSchema = objectSchema({
  name: { type: "string", optional: true },
  path: {
    type: "string",
    default: ".flowyml/metadata.db",
    description: "database file, or :memory:",
  },
  busyTimeoutMs: {
    type: "integer",
    min: 0,
    default: 10_000,
    description: "wait this long for a lock",
  },
  inlineMaxBytes: {
    type: "integer",
    min: 0,
    default: INLINE_MAX_BYTES,
    description: "artifacts up to this size are stored in the database (0: never)",
  },
});

/** Options of the SQLite metadata store. */
export type SQLiteMetadataStoreOptions = SchemaInput<typeof sqliteMetadataStoreSchema.fields>;

/**
 * What a SQLite database at `path` needs (default `.flowyml/metadata.db`): its folder, since the
 * WAL and SHM files live beside it.
 */
export function sqliteNeeds(path: unknown): PermissionNeeds {
  const file = typeof path === "string" ? path : ".flowyml/metadata.db";
  if (file === ":memory:") return {};
  const dir = dirname(normalize(file)); // "a/b/../meta.db" is in "a", not in "a/b"
  return { read: [dir], write: [dir] };
}
