/**
 * Error types shared by the whole framework. Every error flowyml raises says
 * what was wrong and how to fix it.
 * @module
 */
import { isPermissionError, parsePermissionMessage } from "./permissions.ts";

export { isPermissionError };

/** Base class of every error flowyml raises on purpose. */
export class FlowymlError extends Error {
  /** A short hint telling the user how to fix the problem, if known. */
  readonly hint?: string;
  /** `hint` is appended to the message as a `fix:` line; `cause` is kept as `Error.cause`. */
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(options.hint ? `${message}\n  fix: ${options.hint}` : message, { cause: options.cause });
    this.name = "FlowymlError";
    this.hint = options.hint;
  }
}

/** A problem in `flowyml.yaml` or in options passed in code. */
export class ConfigError extends FlowymlError {
  /** `hint` is appended to the message as a `fix:` line; `cause` is kept as `Error.cause`. */
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options);
    this.name = "ConfigError";
  }
}

/** A pipeline that cannot be built: missing input, duplicate output, cycle, duplicate name. */
export class PipelineDefinitionError extends FlowymlError {
  /** `hint` is appended to the message as a `fix:` line; `cause` is kept as `Error.cause`. */
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options);
    this.name = "PipelineDefinitionError";
  }
}

/** A step failed; carries the step name and the original cause. */
export class StepFailedError extends FlowymlError {
  /** Name of the step that failed. */
  readonly step: string;
  /** `attempts` above 1 is mentioned in the message; `cause` is kept as `Error.cause`. */
  constructor(step: string, cause: unknown, attempts = 1) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(`step "${step}" failed${attempts > 1 ? ` after ${attempts} attempts` : ""}: ${why}`, {
      cause,
    });
    this.name = "StepFailedError";
    this.step = step;
  }
}

/** A step exceeded its `timeoutMs`. */
export class StepTimeoutError extends FlowymlError {
  /** The message names the step and the limit (ms) it exceeded. */
  constructor(step: string, timeoutMs: number, options: { detail?: string; hint?: string } = {}) {
    super(`step "${step}" timed out after ${timeoutMs} ms${options.detail ?? ""}`, {
      hint: options.hint ?? `raise the step's timeoutMs, or make it finish sooner`,
    });
    this.name = "StepTimeoutError";
  }
}

/** A component is missing from the registry or cannot be built. */
export class ComponentError extends FlowymlError {
  /** `hint` is appended to the message as a `fix:` line; `cause` is kept as `Error.cause`. */
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options);
    this.name = "ComponentError";
  }
}

/** A Deno permission flag is missing. The message names the exact flag. */
export class MissingPermissionError extends FlowymlError {
  /** The flag to add, e.g. `--allow-write=./.flowyml`. */
  readonly flag: string;
  /** `what` was refused; the hint tells the user to run again with `flag`. */
  constructor(what: string, flag: string, cause?: unknown) {
    super(`${what} was refused: Deno permission missing`, {
      hint: `run again with ${flag}`,
      cause,
    });
    this.name = "MissingPermissionError";
    this.flag = flag;
  }
}

/**
 * Turn a Deno `NotCapable`/`PermissionDenied` error into a
 * {@linkcode MissingPermissionError} naming the exact flag. Other errors are
 * returned unchanged.
 *
 * @param err the caught error
 * @param what what flowyml was doing, e.g. `the local artifact store writing ./.flowyml`
 */
export function explainPermission(err: unknown, what: string): unknown {
  if (!isPermissionError(err)) return err;
  const msg = (err as Error).message;
  // Deno: `Requires write access to "/x/y", run again with the --allow-write flag`
  const flag = parsePermissionMessage(msg)?.flag ?? /(--allow-[a-z]+)/.exec(msg)?.[1] ??
    "the matching --allow-* flag";
  return new MissingPermissionError(what, flag, err);
}

/** Render any thrown value as a message, following `cause` chains. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (err && typeof err === "object" && "message" in err) return String(err.message);
  return String(err);
}
