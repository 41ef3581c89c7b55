/**
 * Config schema of `GCSArtifactStore` (`type: gcs`), apart from the
 * implementation so configs validate without loading `@google-cloud/storage`.
 * @module
 */
import { z } from "zod";
import type { Schema } from "../../kernel/schema.ts";

/** Options of the GCS store constructor: what `artifact_store: { type: gcs, … }` may set. */
export interface GCSStoreOptions {
  /** Instance name (default `gcs`). */
  name?: string;
  /** Bucket holding the artifacts (3 to 222 characters). */
  bucket: string;
  /** Object name prefix, e.g. `team/flowyml` (default none). */
  prefix?: string;
  /** GCP project (bucket creation); default from Application Default Credentials. */
  project_id?: string;
  /** JSON API endpoint; default https://storage.googleapis.com (set for emulators). */
  api_endpoint?: string;
  /**
   * Service-account key file path, or `{ env: NAME }` naming the variable that holds the path;
   * default: Application Default Credentials.
   */
  key_file?: string | { env: string };
  /** Send no credentials; default true only for an http:// `api_endpoint` (emulators). */
  anonymous?: boolean;
  /** Create the bucket when it does not exist (default false). */
  create_bucket?: boolean;
  /** Uploads larger than this many MiB use a resumable upload (1 to 100, default 8). */
  resumable_threshold_mb?: number;
  /** Folder where streamed uploads are spooled so they can be retried; default the system temp dir. */
  spool_dir?: string;
  /** Retries of a transient failure per request (0 to 20, default 4). */
  max_retries?: number;
  /** First retry delay in ms, doubled on each further retry (default 200). */
  retry_base_ms?: number;
  /**
   * Keep step outputs up to the metadata store's `inlineMaxBytes` (64 KiB) in the metadata store
   * instead of the bucket, for runs on the local, wasm or queue orchestrator (default false).
   */
  inline_small_outputs?: boolean;
}

/** Parsed options: {@linkcode GCSStoreOptions} with their defaults applied. */
export type GCSStoreConfig =
  & GCSStoreOptions
  & Required<
    Pick<
      GCSStoreOptions,
      | "prefix"
      | "create_bucket"
      | "resumable_threshold_mb"
      | "max_retries"
      | "retry_base_ms"
      | "inline_small_outputs"
    >
  >;

const gcsStoreObject = z.object({
  name: z.string().optional(),
  bucket: z.string().min(3).max(222).describe("bucket holding the artifacts"),
  prefix: z.string().default("").describe("object name prefix, e.g. `team/flowyml`"),
  project_id: z.string().optional().describe("GCP project (bucket creation); default from ADC"),
  api_endpoint: z.string().optional().describe(
    "JSON API endpoint; default https://storage.googleapis.com (set for emulators)",
  ),
  key_file: z.union([z.string(), z.object({ env: z.string().min(1) }).strict()]).optional()
    .describe(
      "service-account key file path, or { env: NAME } holding the path; " +
        "default: Application Default Credentials",
    ),
  anonymous: z.boolean().optional().describe(
    "send no credentials; default true only for an http:// api_endpoint (emulators)",
  ),
  create_bucket: z.boolean().default(false).describe("create the bucket when it does not exist"),
  resumable_threshold_mb: z.number().int().min(1).max(100).default(8).describe(
    "uploads larger than this use a resumable upload",
  ),
  spool_dir: z.string().optional().describe(
    "folder where streamed uploads are spooled so they can be retried; default the system temp dir",
  ),
  max_retries: z.number().int().min(0).max(20).default(4),
  retry_base_ms: z.number().int().min(1).default(200),
  inline_small_outputs: z.boolean().default(false).describe(
    "keep step outputs up to the metadata store's inlineMaxBytes (64 KiB) in the metadata store " +
      "instead of the bucket, for runs on the local, wasm or queue orchestrator: fewer uploads, " +
      "but those outputs are not objects other tools can read (docs/artifacts.md)",
  ),
}).strict();

/** Config schema of `type: gcs` (parses to {@linkcode GCSStoreConfig}). */
export const gcsStoreSchema: Schema<GCSStoreConfig> = gcsStoreObject;
// The declared types are what the schema accepts and returns: `deno check` fails when they drift.
const _declared: z.ZodType<GCSStoreConfig, GCSStoreOptions> = gcsStoreObject;
