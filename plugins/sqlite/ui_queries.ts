/**
 * Dashboard read queries ({@linkcode UiQueries}) for the SQLite metadata
 * store: one SQL statement each, on the store's own connection. Used by
 * `flowyml ui`.
 * @module
 */
import type { StatementSync } from "node:sqlite";
import type { SQLiteMetadataStore } from "./metadata_store.ts";
import {
  type AuditPage,
  type AuditQuery,
  pageLimit,
  type RunsPage,
  type RunsPageQuery,
  type UiQueries,
} from "../../kernel/ui_queries.ts";
import { decodeJsonText, type Row, toArtifact, toAudit } from "../_sql/rows.ts";
import { likeEscape, runsWithCounts } from "../_sql/ui_rows.ts";

/** Runs a (cached) prepared statement and returns its rows. */
type All = (sql: string, ...args: unknown[]) => Row[];

/** `?1`…`?5` of the run filters. */
const RUN_FILTER = `(?1 IS NULL OR r.pipeline = ?1) AND (?2 IS NULL OR r.status = ?2)
  AND (?3 IS NULL OR r.started_at >= ?3) AND (?4 IS NULL OR r.started_at < ?4)
  AND (?5 IS NULL OR r.run_id LIKE ?5 || '%' ESCAPE '\\' OR r.params LIKE '%' || ?5 || '%' ESCAPE '\\')`;

/** Step counts of the runs of one page (at most 500), from the (run_id, step) index. */
const COUNTS = `SELECT run_id, COUNT(*) total,
  SUM(status = 'completed') completed, SUM(status = 'cached') cached, SUM(status = 'failed') failed,
  SUM(status = 'running') running, SUM(status IN ('skipped', 'cancelled')) skipped,
  SUM(attempts > 1) retried
  FROM step_runs WHERE run_id IN (SELECT value FROM json_each(?1)) GROUP BY run_id`;

const AUDIT_FILTER =
  `(?1 IS NULL OR run_id = ?1) AND (?2 IS NULL OR actor = ?2) AND (?3 IS NULL OR op = ?3)
  AND (?4 IS NULL OR allowed = ?4)
  AND (?5 IS NULL OR instr(resource, ?5) > 0 OR instr(COALESCE(detail, ''), ?5) > 0)`;

/** {@linkcode UiQueries} over a SQLite metadata store. */
export function sqliteUiQueries(store: SQLiteMetadataStore): UiQueries {
  const stmts = new Map<string, StatementSync>();
  const all: All = (sql, ...args) => {
    let s = stmts.get(sql);
    if (!s) stmts.set(sql, s = store.db.prepare(sql));
    // deno-lint-ignore no-explicit-any
    return s.all(...(args as any[])) as Row[];
  };
  return {
    runsPage: (q) => Promise.resolve(runsPage(all, q)),
    pipelines() {
      return Promise.resolve(
        all("SELECT DISTINCT pipeline FROM runs ORDER BY pipeline").map((r) => String(r.pipeline)),
      );
    },
    runVersion(runId) {
      const [r] = all(
        `SELECT r.status, r.ended_at,
           (SELECT COUNT(*) || ':' || COALESCE(SUM(attempts), 0) || ':' ||
              COALESCE(SUM(instr('pending running completed failed skipped cached cancelled', status)
                * 31 + COALESCE(ended_at, 0) % 1000003), 0)
            FROM step_runs WHERE run_id = r.run_id) steps,
           (SELECT COUNT(*) FROM metrics WHERE run_id = r.run_id) metrics
         FROM runs r WHERE r.run_id = ?`,
        runId,
      );
      return Promise.resolve(r ? `${r.status}|${r.ended_at}|${r.steps}|${r.metrics}` : "none");
    },
    artifactsByHash(hash) {
      const rows = all("SELECT * FROM artifacts WHERE hash = ? ORDER BY created_at, run_id", hash);
      return Promise.resolve(rows.map((r) => toArtifact(r, decodeJsonText)));
    },
    auditPage: (q) => Promise.resolve(auditPage(all, q)),
  };
}

function runsPage(all: All, q: RunsPageQuery): RunsPage {
  const args = [
    q.pipeline ?? null,
    q.status ?? null,
    q.from ?? null,
    q.to ?? null,
    q.search ? likeEscape(q.search) : null,
  ];
  const rows = all(
    `SELECT * FROM runs r WHERE ${RUN_FILTER} ORDER BY started_at DESC, run_id DESC
     LIMIT ?6 OFFSET ?7`,
    ...args,
    pageLimit(q.limit, 50, 500),
    Math.max(0, q.offset ?? 0),
  );
  const total = Number(all(`SELECT COUNT(*) n FROM runs r WHERE ${RUN_FILTER}`, ...args)[0].n);
  const counts = all(COUNTS, JSON.stringify(rows.map((r) => String(r.run_id))));
  return { runs: runsWithCounts(rows, counts, decodeJsonText), total };
}

function auditPage(all: All, q: AuditQuery): AuditPage {
  const args = [
    q.runId ?? null,
    q.actor ?? null,
    q.op ?? null,
    q.allowed === undefined ? null : q.allowed ? 1 : 0,
    q.search || null,
  ];
  const rows = all(
    `SELECT * FROM audit WHERE ${AUDIT_FILTER} ORDER BY id LIMIT ?6 OFFSET ?7`,
    ...args,
    pageLimit(q.limit, 100, 1000),
    Math.max(0, q.offset ?? 0),
  );
  const [n] = all(
    `SELECT COUNT(*) n, COALESCE(SUM(allowed = 0), 0) denied FROM audit WHERE ${AUDIT_FILTER}`,
    ...args,
  );
  const scope = "WHERE (?1 IS NULL OR run_id = ?1)";
  return {
    events: rows.map(toAudit),
    total: Number(n.n),
    denied: Number(n.denied),
    actors: all(`SELECT DISTINCT actor FROM audit ${scope} ORDER BY actor`, q.runId ?? null)
      .map((r) => String(r.actor)),
    ops: all(`SELECT DISTINCT op FROM audit ${scope} ORDER BY op`, q.runId ?? null)
      .map((r) => String(r.op)),
  };
}
