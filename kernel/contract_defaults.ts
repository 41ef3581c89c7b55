/**
 * What the `ArtifactStore` and `Orchestrator` contracts fall back on when a
 * component implements only the seed's small shape (`save`/`load`/`exists`,
 * or `runPipeline`/`getRunStatus`). Pure helpers: this module imports no
 * contract, so contracts.ts can use it without an import cycle.
 * @module
 */
import { ComponentError } from "./errors.ts";
import type { RunStatus } from "./records.ts";

/** The registry type of a component instance: its class's `type`, else `toDict().type`, else its name. */
export function typeOfComponent(
  c: { name: string; toDict?: () => Record<string, unknown> },
): string {
  const cls = (c as { constructor?: { type?: unknown } }).constructor;
  if (typeof cls?.type === "string" && cls.type) return cls.type;
  try {
    const t = c.toDict?.().type;
    if (typeof t === "string" && t) return t;
  } catch {
    // toDict() failing is reported elsewhere; fall back to the name
  }
  return c.name;
}

/** The error a default method throws when nothing can be derived from what the component implements. */
export function notSupported(
  c: { name: string; toDict?: () => Record<string, unknown> },
  method: string,
  options: { needs: string; usedBy?: string },
): ComponentError {
  const type = typeOfComponent(c);
  return new ComponentError(
    `${method}() is not supported by ${type} "${c.name}"${
      options.usedBy ? ` (${options.usedBy} needs it)` : ""
    }`,
    { hint: `implement ${options.needs} in the ${type} component` },
  );
}

/**
 * True when `obj` (an instance or a prototype) has `method` from something
 * other than the contract class `base`: defined on the object itself or on a
 * class between it and `base`. A base from another copy of flowyml (same
 * name, own static `kind`) counts as `base`.
 */
export function implementsOwn(obj: object, method: string, base: { name: string }): boolean {
  for (let p: object | null = obj; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    const ctor = Object.hasOwn(p, "constructor")
      ? (p as { constructor: { name: string } }).constructor
      : undefined;
    if (ctor && (ctor === base || (ctor.name === base.name && Object.hasOwn(ctor, "kind")))) {
      return false;
    }
    if (Object.hasOwn(p, method) && typeof (p as Record<string, unknown>)[method] === "function") {
      return true;
    }
  }
  return false;
}

/**
 * The bytes a `load()` returned for what `save()` stored as bytes. A store
 * implementing only `save`/`load` must give back the `Uint8Array` it was
 * given (a `Buffer` or an `ArrayBuffer` is accepted).
 */
export function bytesFromLoaded(value: unknown, where: string): Uint8Array {
  if (value instanceof Uint8Array) {
    return value.constructor === Uint8Array
      ? value
      : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  const got = value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
  throw new ComponentError(
    `${where} returned ${got}, not the Uint8Array that save() was given`,
    {
      hint: "flowyml stores serialized bytes through save(bytes, path): load(path) must return " +
        "them unchanged (e.g. serialize with node:v8, which keeps a Uint8Array a Uint8Array, " +
        "not JSON), or implement writeBytes()/readBytes() instead",
    },
  );
}

/** A stream of one chunk. */
export function streamOfBytes(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      if (bytes.byteLength) c.enqueue(bytes);
      c.close();
    },
  });
}

/** Read a whole stream into one array. */
export async function readWhole(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const chunk of stream) {
    parts.push(chunk);
    n += chunk.byteLength;
  }
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** Status words of other systems the default `waitForRun` understands (Airflow, Argo, Kubeflow…). */
const STATUS_WORDS: Record<string, RunStatus> = {
  pending: "pending",
  queued: "pending",
  scheduled: "pending",
  running: "running",
  completed: "completed",
  success: "completed",
  succeeded: "completed",
  failed: "failed",
  failure: "failed",
  error: "failed",
  cancelled: "cancelled",
  canceled: "cancelled",
  crashed: "crashed",
};

/** A status from `getRunStatus` as a flowyml {@linkcode RunStatus}, or `undefined` when unknown. */
export function normalizeRunStatus(status: unknown): RunStatus | undefined {
  return typeof status === "string" ? STATUS_WORDS[status.toLowerCase()] : undefined;
}

/** True for a status a run never leaves. */
export function isFinalStatus(s: RunStatus): boolean {
  return s === "completed" || s === "failed" || s === "cancelled" || s === "crashed";
}

/** Options of {@linkcode pollRunStatus}. */
export interface PollOptions {
  /** First delay between polls, ms (default 50), multiplied by 1.5 after each poll. */
  initialDelayMs?: number;
  /** Longest delay between polls, ms (default 2000). */
  maxDelayMs?: number;
  /** Consecutive unrecognised statuses (e.g. `UNKNOWN`) tolerated before failing (default 20). */
  maxUnknown?: number;
  /** Stops the wait. */
  signal?: AbortSignal;
  /** Used in messages, e.g. `orchestrator airflow "airflow"`. */
  owner?: string;
}

/**
 * Poll `getStatus(runId)` with backoff until the run reaches a final status,
 * and return it. A status that stays unrecognised fails with its value.
 */
export async function pollRunStatus(
  getStatus: (runId: string) => Promise<unknown>,
  runId: string,
  options: PollOptions = {},
): Promise<RunStatus> {
  let delay = options.initialDelayMs ?? 50;
  const max = options.maxDelayMs ?? 2000;
  let unknown = 0;
  for (;;) {
    options.signal?.throwIfAborted();
    const raw = await getStatus(runId);
    const s = normalizeRunStatus(raw);
    if (s && isFinalStatus(s)) return s;
    if (!s && ++unknown > (options.maxUnknown ?? 20)) {
      throw new ComponentError(
        `${options.owner ?? "orchestrator"}: getRunStatus("${runId}") keeps answering ` +
          `${JSON.stringify(raw)}, which is not a run status`,
        {
          hint: `return one of pending, running, completed, failed, cancelled (or ${
            Object.keys(STATUS_WORDS).filter((w) => w !== STATUS_WORDS[w]).join(", ")
          }), or implement waitForRun()`,
        },
      );
    }
    if (s) unknown = 0;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(max, Math.ceil(delay * 1.5));
  }
}
