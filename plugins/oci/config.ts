/**
 * Config schema of the OCI container registries (`type: oci`, `gcr`,
 * `dockerhub`, `ecr`). Light: validating a config does not load the client.
 * @module
 */
import { z } from "zod";
import { secretSchema } from "../s3/secrets.ts";

/** Auth flavors of {@linkcode ociRegistrySchema}. */
export const AUTH_FLAVORS = ["none", "basic", "dockerhub", "gcr", "ecr"] as const;
/** One auth flavor. */
export type AuthFlavor = typeof AUTH_FLAVORS[number];

/** Config of an OCI Distribution registry. */
export const ociRegistrySchema = z.object({
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

/** Options of the registry constructors. */
export type OCIRegistryOptions = z.input<typeof ociRegistrySchema>;
/** Parsed options. */
export type OCIRegistryConfig = z.output<typeof ociRegistrySchema>;

/** Split `host[:port][/namespace]` into host and namespace. */
export function splitRegistryUri(uri: string): { host: string; namespace: string } {
  const clean = uri.replace(/^[a-z]+:\/\//i, "").replace(/\/+$/, "");
  const i = clean.indexOf("/");
  return i < 0
    ? { host: clean, namespace: "" }
    : { host: clean.slice(0, i), namespace: clean.slice(i + 1) };
}
