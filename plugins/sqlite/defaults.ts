/**
 * Defaults of the SQLite metadata store shared by the store and its config
 * schema (config.ts), without loading zod.
 * @module
 */

/** Default `inlineMaxBytes` of the SQLite metadata store: 64 KiB. */
export const INLINE_MAX_BYTES = 64 * 1024;
