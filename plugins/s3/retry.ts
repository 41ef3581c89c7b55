/**
 * Bounded retries with exponential backoff and jitter for remote components
 * (S3, GCS, OCI registries). Only transient failures are retried; the final
 * error says how many attempts were made and what the last failure was.
 * @module
 */
import { describeError, FlowymlError, isPermissionError } from "../../kernel/errors.ts";

/** Options of {@linkcode withRetry}. */
export interface RetryOptions {
  /** What is being done, for the final error, e.g. `uploading s3://b/k`. */
  what: string;
  /** Extra attempts after the first (default 4). */
  retries?: number;
  /** First backoff delay in ms (default 200); doubles each attempt. */
  baseMs?: number;
  /** Cap of one delay (default 5000 ms). */
  maxMs?: number;
  /** Decides whether an error is worth retrying (default {@linkcode isTransient}). */
  transient?: (err: unknown) => boolean;
  /** Turns the final error into a message without secrets (default: describeError). */
  describe?: (err: unknown) => string;
  /** Hint for the final error. */
  hint?: string;
  /** Do not chain the client error as `cause` (it may carry request headers). */
  dropCause?: boolean;
}

/** Raised when a remote call still fails after all retries. */
export class RetriesExhaustedError extends FlowymlError {
  /** Attempts made. */
  readonly attempts: number;
  constructor(message: string, attempts: number, options: { hint?: string; cause?: unknown }) {
    super(message, options);
    this.name = "RetriesExhaustedError";
    this.attempts = attempts;
  }
}

const TRANSIENT_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "ECONNABORTED",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "UND_ERR_SOCKET",
  "SlowDown",
  "InternalError",
  "ServiceUnavailable",
  "RequestTimeout",
  "RequestTimeTooSkewed",
  "OperationAborted",
]);

/** HTTP status of an error from minio, gcs, or our own fetch calls, if any. */
export function errorStatus(err: unknown): number | undefined {
  const e = err as Record<string, unknown> | undefined;
  if (!e || typeof e !== "object") return undefined;
  for (const k of ["status", "statusCode", "code"]) {
    const v = e[k];
    if (typeof v === "number" && v >= 100 && v < 600) return v;
  }
  return undefined;
}

/** True for network failures, throttling and 5xx answers. Permission errors never are. */
export function isTransient(err: unknown): boolean {
  if (isPermissionError(err)) return false;
  const e = err as Record<string, unknown>;
  const code = typeof e?.code === "string" ? e.code : undefined;
  if (code && TRANSIENT_CODES.has(code)) return true;
  const status = errorStatus(err);
  if (status !== undefined) return status === 429 || status === 408 || status >= 500;
  const msg = describeError(err).toLowerCase();
  return /socket hang up|econnreset|epipe|connection reset|connection refused|broken pipe|network|timed? ?out|other side closed|unexpected eof|premature close/
    .test(msg);
}

/** Sleep `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Run `fn`, retrying transient failures with exponential backoff (full
 * jitter). Non-transient errors are rethrown at once, unchanged.
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const retries = options.retries ?? 4;
  const base = options.baseMs ?? 200;
  const max = options.maxMs ?? 5000;
  const transient = options.transient ?? isTransient;
  for (let attempt = 0;; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (!transient(err)) throw err;
      if (attempt >= retries) {
        const why = (options.describe ?? describeError)(err);
        throw new RetriesExhaustedError(
          `${options.what} failed after ${attempt + 1} attempts: ${why}`,
          attempt + 1,
          {
            hint: options.hint ?? "the service kept failing; check that it is up and reachable",
            cause: options.dropCause ? undefined : err,
          },
        );
      }
      const cap = Math.min(max, base * 2 ** attempt);
      await sleep(cap / 2 + Math.random() * (cap / 2));
    }
  }
}
