/**
 * Errors raised by the WASM sandbox. A {@linkcode PluginViolationError}
 * always names the plugin and the violation, so a failed run says which
 * third-party component misbehaved and how.
 * @module
 */
import { FlowymlError } from "../errors.ts";

/** A problem loading or running a sandboxed plugin. */
export class SandboxError extends FlowymlError {
  /** `hint` is appended to the message as a `fix:` line; `cause` is kept as `Error.cause`. */
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options);
    this.name = "SandboxError";
  }
}

/** The kinds of violation the sandbox reports. */
export type ViolationKind =
  | "timeout"
  | "memory"
  | "trap"
  | "denied"
  | "oversized"
  | "malformed"
  | "import"
  | "integrity"
  | "plugin_error"
  | "crashed";

/** A plugin broke a rule of the sandbox; the message names the plugin and the violation. */
export class PluginViolationError extends SandboxError {
  /** Plugin name as configured under `plugins:` in flowyml.yaml. */
  readonly plugin: string;
  /** What rule the plugin broke. */
  readonly violation: ViolationKind;
  /** The message names `plugin` and the violation, then `detail`. */
  constructor(
    plugin: string,
    violation: ViolationKind,
    detail: string,
    options: { hint?: string; cause?: unknown } = {},
  ) {
    super(`plugin "${plugin}" ${LABEL[violation]}: ${detail}`, options);
    this.name = "PluginViolationError";
    this.plugin = plugin;
    this.violation = violation;
  }
}

const LABEL: Record<ViolationKind, string> = {
  timeout: "was stopped at its timeout",
  memory: "hit its memory cap",
  trap: "trapped",
  denied: "was denied",
  oversized: "sent an oversized message",
  malformed: "sent a malformed protocol message",
  import: "imports a host function that is not allowed",
  integrity: "failed its integrity check",
  plugin_error: "reported an error",
  crashed: "crashed",
};
