/**
 * Rendering the audit trail of brokered plugin calls
 * (`flowyml runs show <id> --audit`).
 * @module
 */
import type { AuditEvent } from "../records.ts";
import { safeText } from "../display.ts";

/**
 * Render audit events as an aligned table, one line per event, with a summary line. Every cell
 * is shown with control characters escaped (plugins choose resources, details and log text).
 */
export function formatAudit(events: AuditEvent[]): string {
  if (!events.length) return "no audit events (this run made no brokered plugin calls)";
  const rows = events.map((e) => [
    new Date(e.at).toISOString().slice(11, 23),
    safeText(e.actor),
    e.allowed ? "allowed" : "DENIED",
    safeText(e.op),
    safeText(e.resource),
    safeText(e.detail ?? ""),
  ]);
  const head = ["time", "plugin", "decision", "op", "resource", "detail"];
  const widths = head.map((h, i) =>
    Math.min(48, Math.max(h.length, ...rows.map((r) => r[i].length)))
  );
  const fmt = (r: string[]) =>
    r.map((
      c,
      i,
    ) => (i === r.length - 1
      ? c
      : c.length > widths[i]
      ? c.slice(0, widths[i] - 1) + "…"
      : c.padEnd(widths[i]))
    )
      .join("  ").trimEnd();
  // A summary row (past the per-call cap) stands for the N events it counts.
  const weight = (e: AuditEvent) => Number(/^aggregated: (\d+)/.exec(e.detail ?? "")?.[1] ?? 1);
  const total = events.reduce((n, e) => n + weight(e), 0);
  const denied = events.reduce((n, e) => n + (e.allowed ? 0 : weight(e)), 0);
  const actors = [...new Set(events.map((e) => safeText(e.actor)))].join(", ");
  return [
    fmt(head),
    ...rows.map(fmt),
    `${total} brokered call(s) by ${actors}: ${total - denied} allowed, ${denied} denied`,
  ].join("\n");
}
