/**
 * Config schema of the S3-compatible artifact stores (`type: minio` and
 * `type: s3`). Kept apart from the implementation so `flowyml.yaml` can be
 * validated without importing `npm:minio`.
 * @module
 */
import { z } from "zod";
import type { Schema } from "../../kernel/schema.ts";
import { secretSchema } from "./secrets.ts";

/**
 * Options of the S3 store constructors: what `artifact_store: { type: s3, … }` may set
 * (`type: minio` takes the same, with `endpoint` required).
 */
export interface S3StoreOptions {
  /** Instance name (default: the type, `s3` or `minio`). */
  name?: string;
  /** Bucket holding the artifacts: 3–63 lowercase letters, digits, dots and dashes. */
  bucket: string;
  /** Key prefix inside the bucket, e.g. `team/flowyml` (default none). */
  prefix?: string;
  /** Region of the bucket (default `us-east-1`). */
  region?: string;
  /** Use TLS; default from the endpoint's scheme (https unless `http://` is given). */
  secure?: boolean;
  /**
   * Access key id: a string (e.g. `${MINIO_ACCESS_KEY}`), `{ env: NAME }` or `{ file: PATH }`;
   * default `$AWS_ACCESS_KEY_ID`.
   */
  access_key?: string | { env: string } | { file: string };
  /** Secret access key, same forms as `access_key`; default `$AWS_SECRET_ACCESS_KEY`. */
  secret_key?: string | { env: string } | { file: string };
  /** Temporary session token, same forms as `access_key`; default `$AWS_SESSION_TOKEN`. */
  session_token?: string | { env: string } | { file: string };
  /** Create the bucket if missing, in `validate()` or on the first write (default false). */
  create_bucket?: boolean;
  /**
   * Multipart part size in MiB (5 to 512, default 8); one upload holds about part size ×
   * (`upload_concurrency` + 1) in memory.
   */
  part_size_mb?: number;
  /** Parts uploaded in parallel (1 to 16, default 4). */
  upload_concurrency?: number;
  /** Retries of a transient failure (network error, 5xx, throttling): 0 to 20, default 4. */
  max_retries?: number;
  /** First retry delay in ms, doubled on each further retry (default 200). */
  retry_base_ms?: number;
  /**
   * Keep step outputs up to the metadata store's `inlineMaxBytes` (64 KiB) in the metadata store
   * instead of the bucket, for runs on the local, wasm or queue orchestrator: fewer PUTs, but those
   * outputs are not objects other tools can read (default false).
   */
  inline_small_outputs?: boolean;
  /**
   * Server address, `http://host:port`, `https://host` or `host:port` (`s3`: default
   * `https://s3.amazonaws.com`; `minio`: required).
   */
  endpoint?: string;
  /**
   * Path-style addressing (`host/bucket/key`) instead of virtual-hosted style (default false for
   * `s3`, true for `minio`).
   */
  path_style?: boolean;
}

/** Options of `type: minio`: {@linkcode S3StoreOptions} with the server's `endpoint` required. */
export interface MinIOStoreOptions extends S3StoreOptions {
  /** Server address: `http://host:port`, `https://host` or `host:port`. */
  endpoint: string;
}

/** Parsed options of either type: {@linkcode S3StoreOptions} with their defaults applied. */
export type S3StoreConfig =
  & S3StoreOptions
  & Required<
    Pick<
      S3StoreOptions,
      | "prefix"
      | "region"
      | "create_bucket"
      | "part_size_mb"
      | "upload_concurrency"
      | "max_retries"
      | "retry_base_ms"
      | "inline_small_outputs"
      | "endpoint"
      | "path_style"
    >
  >;

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

const minioStoreObject = z.object({
  ...common,
  endpoint: z.string().min(1).describe(
    "server address: `http://host:port`, `https://host` or `host:port`",
  ),
  path_style: z.boolean().default(true).describe("path-style addressing (host/bucket/key)"),
}).strict();

const s3StoreObject = z.object({
  ...common,
  endpoint: z.string().min(1).default("https://s3.amazonaws.com").describe(
    "S3 endpoint; default AWS",
  ),
  path_style: z.boolean().default(false).describe(
    "path-style addressing; virtual-hosted style is the AWS default",
  ),
}).strict();

/**
 * Config of `type: minio`: a MinIO (or any S3-compatible) server, path-style by default
 * (accepts {@linkcode MinIOStoreOptions}, parses to {@linkcode S3StoreConfig}).
 */
export const minioStoreSchema: Schema<S3StoreConfig> = minioStoreObject;
/**
 * Config of `type: s3`: AWS S3 by default, or any S3-compatible endpoint (accepts
 * {@linkcode S3StoreOptions}, parses to {@linkcode S3StoreConfig}).
 */
export const s3StoreSchema: Schema<S3StoreConfig> = s3StoreObject;
// The declared types are what the schemas accept and return: `deno check` fails when they drift.
const _s3Declared: z.ZodType<S3StoreConfig, S3StoreOptions> = s3StoreObject;
const _minioDeclared: z.ZodType<S3StoreConfig, MinIOStoreOptions> = minioStoreObject;

/** Where an endpoint string points. */
export interface ParsedEndpoint {
  /** Host name or IP address. */
  host: string;
  /** TCP port (default 443 with TLS, else 80). */
  port: number;
  /** Whether requests use TLS. */
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
