/**
 * Step log lines (`ctx.log()`), kept in the metadata store by attempt so
 * readers (`flowyml ui`'s step page) can show and search them. A store keeps
 * them when it implements {@linkcode StepLogStore} (SQLite and PostgreSQL do);
 * the engine writes through a {@linkcode StepLogWriter}, which batches lines
 * and caps their size, so a chatty step costs one write per batch, and a
 * failed write never fails the step.
 * @module
 */
import type { RunEvent } from "./contracts.ts";
import type { MetadataStore } from "./metadata_store.ts";

/** One log line of a step attempt. */
export interface StepLogLine {
  /** Run the line belongs to. */
  runId: string;
  /** Step that logged it. */
  step: string;
  /** Attempt (1 for the first). */
  attempt: number;
  /** The text, at most {@linkcode LOG_LINE_MAX} characters. */
  line: string;
  /** When it was logged, ms since the Unix epoch. */
  at: number;
}

/** A metadata store that keeps step log lines. */
export interface StepLogStore {
  /** Append lines (in order). */
  appendStepLogs(lines: StepLogLine[]): Promise<void>;
  /** Lines of a run (narrowed to one step), in the order they were logged. */
  listStepLogs(runId: string, step?: string): Promise<StepLogLine[]>;
}

/** Longest line kept, in characters (longer ones are cut, marked with `…`). */
export const LOG_LINE_MAX = 4096;
/** Lines kept per step attempt; past it, one line says how many were dropped. */
export const LOG_LINES_PER_ATTEMPT = 10_000;
const FLUSH_AFTER_MS = 100;
const FLUSH_AT_LINES = 200;

/** True when `meta` keeps step log lines. */
export function keepsStepLogs(meta: MetadataStore): meta is MetadataStore & StepLogStore {
  const m = meta as Partial<StepLogStore>;
  return typeof m.appendStepLogs === "function" && typeof m.listStepLogs === "function";
}

/** Batches a run's log lines into its metadata store. */
export class StepLogWriter {
  #meta?: MetadataStore & StepLogStore;
  #pending: StepLogLine[] = [];
  #counts = new Map<string, number>();
  #timer?: ReturnType<typeof setTimeout>;
  #writing: Promise<void> = Promise.resolve();

  /** Lines of `runId` go to `meta` when it keeps them; otherwise they are dropped. */
  constructor(meta: MetadataStore, readonly runId: string) {
    if (keepsStepLogs(meta)) this.#meta = meta;
  }

  /** Record one line of `step`'s attempt `attempt`. */
  add(step: string, attempt: number, message: string): void {
    if (!this.#meta) return;
    const key = `${step}\u0000${attempt}`;
    const n = (this.#counts.get(key) ?? 0) + 1;
    this.#counts.set(key, n);
    if (n > LOG_LINES_PER_ATTEMPT) return;
    const line = n === LOG_LINES_PER_ATTEMPT
      ? `(log capped at ${LOG_LINES_PER_ATTEMPT} lines; later lines are not kept)`
      : message.length > LOG_LINE_MAX
      ? message.slice(0, LOG_LINE_MAX - 1) + "…"
      : message;
    this.#pending.push({ runId: this.runId, step, attempt, line, at: Date.now() });
    if (this.#pending.length >= FLUSH_AT_LINES) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), FLUSH_AFTER_MS);
  }

  /** Write the pending lines; resolves when every line added so far is written (or failed). */
  flush(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length && this.#meta) {
      const meta = this.#meta;
      this.#writing = this.#writing.then(() => meta.appendStepLogs(batch)).catch(() => {});
    }
    return this.#writing;
  }
}

/**
 * `onEvent` that also records `step_log` events in `writer`, by attempt (known from the
 * `step_started` events), and flushes when the run finishes.
 */
export function recordingLogEvents(
  writer: StepLogWriter,
  onEvent?: (e: RunEvent) => void,
): (e: RunEvent) => void {
  const attempts = new Map<string, number>();
  return (e) => {
    if (e.type === "step_started") attempts.set(e.step, e.attempt);
    else if (e.type === "step_log") writer.add(e.step, attempts.get(e.step) ?? 1, e.message);
    else if (e.type === "run_finished") void writer.flush();
    onEvent?.(e);
  };
}
