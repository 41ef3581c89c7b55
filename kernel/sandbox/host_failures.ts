/**
 * How a call fails inside the plugin host process: {@linkcode Stop}, the
 * violation a host function throws to end the call, and any error of a call
 * classified as the violation kind the kernel reports in an ERROR frame.
 * @module
 */

/** A failed call: the violation kind and its message, as an ERROR frame carries them. */
export interface Failure {
  /** Violation kind (`timeout`, `memory`, `trap`, `oversized`, `malformed`, `crashed`…). */
  kind: string;
  /** What happened. */
  message: string;
}

/** A violation that ends the call; `kind` tells the kernel which. */
export class Stop extends Error {
  /** A violation of `kind`. */
  constructor(readonly kind: string, message: string) {
    super(message);
  }
}

/** The violation kind and message of an error a call (or a load) ended with. */
export function classify(err: unknown): Failure {
  if (err instanceof Stop) return { kind: err.kind, message: err.message };
  const message = err instanceof Error
    ? err.message
    : String((err as { message?: string })?.message ?? err);
  if (/Maximum call stack/i.test(message)) {
    return { kind: "trap", message: `stack overflow: ${message}` };
  }
  if (err instanceof WebAssembly.RuntimeError) return { kind: "trap", message };
  if (/Plugin-originated error/.test(message)) return { kind: "plugin_error", message };
  if (/memory|allocation failed|Out of memory/i.test(message)) return { kind: "memory", message };
  return { kind: "crashed", message };
}

/**
 * `failed`, unless linear memory is (nearly) at its cap of `maxPages`: then
 * the failure is the cap being hit (a timeout stays a timeout).
 */
export function capFailure(
  failed: Failure,
  maxPages: number,
  memory: WebAssembly.Memory | undefined,
): Failure {
  const cap = maxPages * 65536;
  if (
    failed.kind !== "timeout" && memory &&
    memory.buffer.byteLength >= cap - Math.max(1 << 20, cap / 16)
  ) {
    // Memory is (nearly) at its cap, so the failure is the cap being hit.
    return {
      kind: "memory",
      message: `linear memory reached its cap of ${cap / 2 ** 20} MiB (${failed.message})`,
    };
  }
  return failed;
}
