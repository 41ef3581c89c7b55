/**
 * Config schema of the OCI container registries (`type: oci`, `gcr`,
 * `dockerhub`, `ecr`). Light: validating a config does not load the client.
 * @module
 */
import { z } from "zod";
import type { Schema } from "../../kernel/schema.ts";
import { secretSchema } from "../s3/secrets.ts";

/** Auth flavors of {@linkcode ociRegistrySchema}. */
export const AUTH_FLAVORS = ["none", "basic", "dockerhub", "gcr", "ecr"] as const;
/** One auth flavor (one of {@linkcode AUTH_FLAVORS}: the schema's drift check keeps them equal). */
export type AuthFlavor = "none" | "basic" | "dockerhub" | "gcr" | "ecr";

/**
 * Options of the registry constructors: what `container_registry: { type: oci, … }` (or `gcr`,
 * `ecr`, `dockerhub`) may set. Secrets are a string, `{ env: NAME }` or `{ file: PATH }`.
 */
export interface OCIRegistryOptions {
  /** Instance name (default: the type). */
  name?: string;
  /**
   * Registry host plus optional namespace: `127.0.0.1:5000/team`, `gcr.io/my-project`,
   * `us-docker.pkg.dev/proj/repo`, `docker.io/user`, `<acct>.dkr.ecr.<region>.amazonaws.com`.
   */
  uri: string;
  /**
   * How to authenticate: `none`, `basic`, `dockerhub` (token auth), `gcr` (OAuth token as
   * password) or `ecr` (AWS token); default from the type, else `basic` when a username is set,
   * else `none`.
   */
  auth?: AuthFlavor;
  /** User name (`basic`, `dockerhub`). */
  username?: string | { env: string } | { file: string };
  /** Password or access token (`basic`, `dockerhub`). */
  password?: string | { env: string } | { file: string };
  /**
   * `gcr`: an OAuth2 access token; default `$GOOGLE_OAUTH_ACCESS_TOKEN`, else Application Default
   * Credentials.
   */
  token?: string | { env: string } | { file: string };
  /** `ecr`: the AWS region; default from the registry host. */
  aws_region?: string;
  /** `ecr`: access key id; default `$AWS_ACCESS_KEY_ID`. */
  aws_access_key_id?: string | { env: string } | { file: string };
  /** `ecr`: secret access key; default `$AWS_SECRET_ACCESS_KEY`. */
  aws_secret_access_key?: string | { env: string } | { file: string };
  /** `ecr`: session token; default `$AWS_SESSION_TOKEN`. */
  aws_session_token?: string | { env: string } | { file: string };
  /** Plain http instead of https; default true only for localhost / 127.x / [::1]. */
  insecure?: boolean;
  /**
   * Folder of the local OCI image layouts that `pushImage` reads and `pullImage` writes
   * (default `.flowyml/images`).
   */
  image_store?: string;
  /** Blob upload chunk size in MiB, sent as PATCH with Content-Range (1 to 512, default 16). */
  chunk_size_mb?: number;
  /** Retries of a transient failure per request (0 to 20, default 4). */
  max_retries?: number;
}

/** Parsed options: {@linkcode OCIRegistryOptions} with their defaults applied. */
export type OCIRegistryConfig =
  & OCIRegistryOptions
  & Required<Pick<OCIRegistryOptions, "image_store" | "chunk_size_mb" | "max_retries">>;

const ociRegistryObject = z.object({
  name: z.string().optional(),
  uri: z.string().min(1).describe(
    "registry host plus optional namespace: `127.0.0.1:5000/team`, `gcr.io/my-project`, " +
      "`us-docker.pkg.dev/proj/repo`, `docker.io/user`, `<acct>.dkr.ecr.<region>.amazonaws.com`",
  ),
  auth: z.enum(AUTH_FLAVORS).optional().describe(
    "none | basic | dockerhub (token auth) | gcr (OAuth token as password) | ecr (AWS token); " +
      "default: from the type, else basic when a username is set",
  ),
  username: secretSchema.optional().describe("user name (basic, dockerhub)"),
  password: secretSchema.optional().describe("password or access token (basic, dockerhub)"),
  token: secretSchema.optional().describe(
    "gcr: an OAuth2 access token; default $GOOGLE_OAUTH_ACCESS_TOKEN, else Application Default Credentials",
  ),
  aws_region: z.string().optional().describe("ecr: region; default from the registry host"),
  aws_access_key_id: secretSchema.optional().describe("ecr: default $AWS_ACCESS_KEY_ID"),
  aws_secret_access_key: secretSchema.optional().describe("ecr: default $AWS_SECRET_ACCESS_KEY"),
  aws_session_token: secretSchema.optional().describe("ecr: default $AWS_SESSION_TOKEN"),
  insecure: z.boolean().optional().describe(
    "plain http; default true only for localhost/127.0.0.1",
  ),
  image_store: z.string().default(".flowyml/images").describe(
    "local OCI image layouts that pushImage reads and pullImage writes",
  ),
  chunk_size_mb: z.number().int().min(1).max(512).default(16).describe(
    "blob upload chunk size (PATCH with Content-Range)",
  ),
  max_retries: z.number().int().min(0).max(20).default(4),
}).strict();

/** Config schema of an OCI Distribution registry (parses to {@linkcode OCIRegistryConfig}). */
export const ociRegistrySchema: Schema<OCIRegistryConfig> = ociRegistryObject;
// The declared types are what the schema accepts and returns: `deno check` fails when they drift.
const _declared: z.ZodType<OCIRegistryConfig, OCIRegistryOptions> = ociRegistryObject;

/** Split `host[:port][/namespace]` into host and namespace. */
export function splitRegistryUri(uri: string): { host: string; namespace: string } {
  const clean = uri.replace(/^[a-z]+:\/\//i, "").replace(/\/+$/, "");
  const i = clean.indexOf("/");
  return i < 0
    ? { host: clean, namespace: "" }
    : { host: clean.slice(0, i), namespace: clean.slice(i + 1) };
}
