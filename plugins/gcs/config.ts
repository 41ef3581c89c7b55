/**
 * Config schema of `GCSArtifactStore` (`type: gcs`), apart from the
 * implementation so configs validate without loading `@google-cloud/storage`.
 * @module
 */
import { z } from "zod";

/** Config of `type: gcs`. */
export const gcsStoreSchema = z.object({
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

/** Options of the GCS store constructor. */
export type GCSStoreOptions = z.input<typeof gcsStoreSchema>;
/** Parsed options. */
export type GCSStoreConfig = z.output<typeof gcsStoreSchema>;
