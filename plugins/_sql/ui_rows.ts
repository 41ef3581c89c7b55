/**
 * Row helpers shared by the SQLite and PostgreSQL dashboard queries
 * (plugins/sqlite/ui_queries.ts, plugins/postgres/ui_queries.ts): the SQL
 * differs by dialect, what is done with the rows does not.
 * @module
 */
import type { RunSummary, StepCounts } from "../../kernel/ui_queries.ts";
import { type JsonDecode, type Row, toRun } from "./rows.ts";

/** Escape `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern. */
export function likeEscape(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

const COUNT_KEYS = [
  "total",
  "completed",
  "cached",
  "failed",
  "running",
  "skipped",
  "retried",
] as const;

/** Runs rows joined with their step-count rows (`run_id` plus one column per count). */
export function runsWithCounts(rows: Row[], counts: Row[], json: JsonDecode): RunSummary[] {
  const byRun = new Map(counts.map((c) => [String(c.run_id), c]));
  return rows.map((r) => {
    const c = byRun.get(String(r.run_id)) ?? {};
    const n = Object.fromEntries(COUNT_KEYS.map((k) => [k, Number(c[k] ?? 0)])) as unknown;
    return { ...toRun(r, json), counts: n as StepCounts };
  });
}
