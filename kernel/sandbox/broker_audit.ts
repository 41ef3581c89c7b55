/**
 * What one plugin call may leave behind in the audit trail and the step
 * log, bounded: audit rows are written individually up to a cap per call,
 * then identical `(op, resource, allowed)` events are counted into one
 * summary row each (and past a cap of distinct keys, into one row per
 * `(op, allowed)`); rows are inserted in batches. Log lines are capped in
 * count and bytes, with a final `… N log lines dropped` line. Every text is
 * redacted by value and stripped of control characters first.
 * @module
 */
import { safeText } from "../display.ts";
import type { AuditEvent } from "../records.ts";
import type { Redactor } from "./redact.ts";

/** Limits of one call's audit rows and log lines. */
export interface AuditLimits {
  /** Rows written one by one per call before aggregation starts. Default 200. */
  rows: number;
  /** Distinct `(op, resource, allowed)` summary rows past `rows`. Default 64. */
  keys: number;
  /** Rows per insert. Default 100. */
  batch: number;
  /** Log lines per call. Default 1,000. */
  logLines: number;
  /** Log bytes per call. Default 1 MiB. */
  logBytes: number;
}

/** Default {@linkcode AuditLimits}. */
export const AUDIT_LIMITS: AuditLimits = {
  rows: 200,
  keys: 64,
  batch: 100,
  logLines: 1000,
  logBytes: 1 << 20,
};

/** Where rows go: usually the run's `metadataStore.recordAudit`. */
export type AuditSink = (events: AuditEvent[]) => Promise<void>;

interface Aggregate {
  op: string;
  resource: string;
  allowed: boolean;
  count: number;
  at: number;
  detail?: string;
}

/** A call's audit rows and log lines, bounded (see the module doc). */
export class AuditTrail {
  /** Rows not yet written (a caller may append its own, e.g. the call row). */
  events: AuditEvent[] = [];
  /** Every event seen, aggregated or not. */
  seen = 0;
  readonly limits: AuditLimits;
  #runId: string;
  #actor: string;
  #redactor: Redactor;
  #sink?: AuditSink;
  #written = 0;
  #aggregates = new Map<string, Aggregate>();
  #writing: Promise<void> = Promise.resolve();
  #writeError?: unknown;
  #log?: (message: string) => void;
  #logLines = 0;
  #logBytes = 0;
  #dropped = 0;

  constructor(
    ids: { runId: string; actor: string },
    options: {
      redactor: Redactor;
      sink?: AuditSink;
      log?: (message: string) => void;
      limits?: Partial<AuditLimits>;
    },
  ) {
    this.#runId = ids.runId;
    this.#actor = ids.actor;
    this.#redactor = options.redactor;
    this.#sink = options.sink;
    this.#log = options.log;
    this.limits = { ...AUDIT_LIMITS, ...options.limits };
  }

  /** Text safe to store: redacted, no control characters, at most `max` characters. */
  clean(text: string, max = 2000): string {
    return safeText(this.#redactor.redact(text), { max });
  }

  /** Record one event (aggregated past the row cap). */
  record(op: string, resource: string, allowed: boolean, detail?: string): void {
    this.seen++;
    const r = this.clean(resource, 512);
    const d = detail === undefined ? undefined : this.clean(detail);
    if (this.#written + this.events.length < this.limits.rows) {
      this.events.push({
        runId: this.#runId,
        actor: this.#actor,
        op: this.clean(op, 64),
        resource: r,
        allowed,
        ...(d ? { detail: d } : {}),
        at: Date.now(),
      });
      if (this.events.length >= this.limits.batch) this.#write();
      return;
    }
    let key = `${op}\0${r}\0${allowed}`;
    let resourceKey = r;
    if (!this.#aggregates.has(key) && this.#aggregates.size >= this.limits.keys) {
      key = `${op}\0\0${allowed}`;
      resourceKey = "(various)";
    }
    const a = this.#aggregates.get(key) ??
      { op: this.clean(op, 64), resource: resourceKey, allowed, count: 0, at: 0, detail: d };
    a.count++;
    a.at = Date.now();
    this.#aggregates.set(key, a);
  }

  /** Append a plugin log line to the step log, within the caps. */
  log(message: string): void {
    if (!this.#log) return;
    const line = this.clean(message, 10_000);
    const bytes = line.length;
    if (this.#logLines >= this.limits.logLines || this.#logBytes + bytes > this.limits.logBytes) {
      this.#dropped++;
      return;
    }
    this.#logLines++;
    this.#logBytes += bytes;
    this.#log(line);
  }

  #write(): void {
    const batch = this.events;
    this.events = [];
    this.#written += batch.length;
    const sink = this.#sink;
    if (!sink || !batch.length) return;
    this.#writing = this.#writing.then(() => sink(batch)).catch((e) => void (this.#writeError = e));
  }

  /** Write what is pending, the summary rows and the `… dropped` log line; idempotent. */
  async flush(): Promise<void> {
    for (const a of this.#aggregates.values()) {
      this.events.push({
        runId: this.#runId,
        actor: this.#actor,
        op: a.op,
        resource: a.resource,
        allowed: a.allowed,
        detail: `aggregated: ${a.count} more event(s) past the cap of ${this.limits.rows} audit ` +
          `rows per call${a.detail ? `; last detail: ${a.detail.slice(0, 200)}` : ""}`,
        at: a.at,
      });
    }
    this.#aggregates.clear();
    if (this.#dropped) {
      this.#log?.(
        `… ${this.#dropped} log line(s) dropped (cap: ${this.limits.logLines} lines or ` +
          `${this.limits.logBytes} bytes per call)`,
      );
      this.#dropped = 0;
    }
    while (this.events.length) {
      const batch = this.events.splice(0, this.limits.batch);
      this.#written += batch.length;
      if (this.#sink) this.#writing = this.#writing.then(() => this.#sink!(batch));
    }
    await this.#writing;
    if (this.#writeError) throw this.#writeError;
  }
}
