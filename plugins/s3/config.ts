/**
 * Config schema of the S3-compatible artifact stores (`type: minio` and
 * `type: s3`). Kept apart from the implementation so `flowyml.yaml` can be
 * validated without importing `npm:minio`.
 * @module
 */
import { z } from "zod";
import { secretSchema } from "./secrets.ts";

const common = {
  name: z.string().optional(),
  bucket: z.string().min(3).max(63).regex(
    /^[a-z0-9][a-z0-9.-]+[a-z0-9]$/,
    "bucket names are 3–63 lowercase letters, digits, dots and dashes",
  ).describe("bucket holding the artifacts"),
  prefix: z.string().default("").describe("key prefix inside the bucket, e.g. `team/flowyml`"),
  region: z.string().default("us-east-1"),
  secure: z.boolean().optional().describe(
    "use TLS; default from the endpoint scheme (https unless http:// is given)",
  ),
  access_key: secretSchema.optional().describe(
    "access key id: a string (e.g. ${MINIO_ACCESS_KEY}), { env: NAME } or { file: PATH }; " +
      "default: $AWS_ACCESS_KEY_ID",
  ),
  secret_key: secretSchema.optional().describe(
    "secret access key, same forms; default: $AWS_SECRET_ACCESS_KEY",
  ),
  session_token: secretSchema.optional().describe(
    "temporary session token, same forms; default: $AWS_SESSION_TOKEN",
  ),
  create_bucket: z.boolean().default(false).describe(
    "create the bucket when it does not exist (validate() and first write)",
  ),
  part_size_mb: z.number().int().min(5).max(512).default(8).describe(
    "multipart part size; memory used by one upload is about part size × (concurrency + 1)",
  ),
  upload_concurrency: z.number().int().min(1).max(16).default(4).describe(
    "parts uploaded in parallel",
  ),
  max_retries: z.number().int().min(0).max(20).default(4).describe(
    "retries of a transient failure (network error, 5xx, throttling)",
  ),
  retry_base_ms: z.number().int().min(1).default(200).describe("first retry delay; doubles"),
  inline_small_outputs: z.boolean().default(false).describe(
    "keep step outputs up to the metadata store's inlineMaxBytes (64 KiB) in the metadata store " +
      "instead of the bucket, for runs on the local, wasm or queue orchestrator: fewer PUTs, " +
      "but those outputs are not objects other tools can read (docs/artifacts.md)",
  ),
};

/** Config of `type: minio`: a MinIO (or any S3-compatible) server, path-style by default. */
export const minioStoreSchema = z.object({
  ...common,
  endpoint: z.string().min(1).describe(
    "server address: `http://host:port`, `https://host` or `host:port`",
  ),
  path_style: z.boolean().default(true).describe("path-style addressing (host/bucket/key)"),
}).strict();

/** Config of `type: s3`: AWS S3 by default, or any S3-compatible endpoint. */
export const s3StoreSchema = z.object({
  ...common,
  endpoint: z.string().min(1).default("https://s3.amazonaws.com").describe(
    "S3 endpoint; default AWS",
  ),
  path_style: z.boolean().default(false).describe(
    "path-style addressing; virtual-hosted style is the AWS default",
  ),
}).strict();

/** Options of the S3/MinIO store constructors (what the schema accepts). */
export type S3StoreOptions = z.input<typeof s3StoreSchema>;
/** Parsed options with defaults filled in. */
export type S3StoreConfig = z.output<typeof s3StoreSchema>;

/** Where an endpoint string points. */
export interface ParsedEndpoint {
  host: string;
  port: number;
  secure: boolean;
}

/**
 * Parse `http://host:port`, `https://host` or `host:port`. Without a scheme,
 * TLS is `secure`, else `defaultSecure`.
 */
export function parseEndpoint(
  endpoint: string,
  secure?: boolean,
  defaultSecure = true,
): ParsedEndpoint {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint)
    ? endpoint
    : `${(secure ?? defaultSecure) ? "https" : "http"}://${endpoint}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new Error(`endpoint "${endpoint}" is not a host:port or URL`);
  }
  const tls = secure ?? url.protocol === "https:";
  const port = url.port ? Number(url.port) : tls ? 443 : 80;
  return { host: url.hostname, port, secure: tls };
}
