/**
 * Error mapping of the S3-compatible artifact stores: reads the S3 error code
 * of a `npm:minio` or network failure (at any depth of its `cause` chain) and
 * turns it into a clear flowyml error (missing artifact, missing bucket,
 * rejected credentials, unreachable endpoint) that names the store and never
 * holds a secret.
 * @module
 */
import {
  ConfigError,
  describeError,
  explainPermission,
  FlowymlError,
  isPermissionError,
} from "../../kernel/errors.ts";
import type { ParsedEndpoint } from "./config.ts";
import { RetriesExhaustedError } from "./retry.ts";
import { redact } from "./secrets.ts";

const NOT_FOUND = new Set(["NoSuchKey", "NotFound", "NoSuchObject"]);
const BAD_CREDENTIALS = new Set([
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "AccessDenied",
  "InvalidToken",
  "ExpiredToken",
]);

/** The error at the bottom of a `cause` chain. */
function rootCause(err: unknown): unknown {
  let e = err;
  for (let i = 0; i < 8 && e instanceof Error && e.cause !== undefined; i++) {
    if (!(e.cause instanceof Error) && typeof e.cause !== "object") break;
    e = e.cause;
  }
  return e;
}

/** The S3 or network error code of `err` or of its root cause (`""` when none). */
export function codeOf(err: unknown): string {
  for (const e of [err, rootCause(err)]) {
    const c = (e as { code?: unknown })?.code;
    if (typeof c === "string") return c;
  }
  return "";
}

/** Whether `err` says the object does not exist. */
export function isNotFound(err: unknown): boolean {
  return NOT_FOUND.has(codeOf(err));
}

/** The store an error is about, as {@linkcode explainS3Error} names it. */
export interface ErrorContext {
  /** `<type> artifact store "<name>"`. */
  where: string;
  server: ParsedEndpoint;
  bucket: string;
  /** The URI of a store path. */
  uriFor: (path: string) => string;
  /** Secrets to redact from messages. */
  secrets: string[];
}

/**
 * Turn a client error into a clear error without secrets: `doing` says what
 * the store was doing, `path` the store path a missing object is reported for.
 */
export function explainS3Error(
  ctx: ErrorContext,
  err: unknown,
  doing: string,
  path?: string,
): Error {
  const w = ctx.where;
  const exhausted = err instanceof RetriesExhaustedError;
  if (err instanceof FlowymlError && !exhausted) return err;
  const root = rootCause(err);
  if (isPermissionError(root)) {
    return explainPermission(root, `${w} ${doing}`) as Error;
  }
  const code = codeOf(err);
  const msg = redact(describeError(err), ctx.secrets);
  const at = `${ctx.server.secure ? "https" : "http"}://${ctx.server.host}:${ctx.server.port}`;
  if (NOT_FOUND.has(code) && path !== undefined) {
    return new FlowymlError(`artifact not found: ${ctx.uriFor(path)}`, {
      hint: "it was deleted from the store; re-run the producing step (the cache re-runs it)",
    });
  }
  if (code === "NoSuchBucket") {
    return new ConfigError(`${w}: bucket "${ctx.bucket}" does not exist at ${at}`, {
      hint: `create it, or set create_bucket: true in the artifact_store config`,
    });
  }
  if (BAD_CREDENTIALS.has(code)) {
    return new ConfigError(`${w}: ${at} rejected the credentials while ${doing} (${code})`, {
      hint: "check access_key / secret_key (and that they may read and write the bucket)",
    });
  }
  if (["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ETIMEDOUT"].includes(code)) {
    const tries = exhausted ? ` after ${(err as RetriesExhaustedError).attempts} attempts` : "";
    return new FlowymlError(
      `${w}: cannot reach the endpoint ${at} (${code})${tries} while ${doing}`,
      { hint: "check `endpoint` and that the server is running and reachable" },
    );
  }
  if (exhausted) return err as Error;
  return new FlowymlError(`${w}: ${doing} failed: ${msg}${code ? ` (${code})` : ""}`);
}
