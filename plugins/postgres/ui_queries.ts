/**
 * Dashboard read queries ({@linkcode UiQueries}) for the PostgreSQL metadata
 * store: the same statements as plugins/sqlite/ui_queries.ts in PostgreSQL's
 * dialect, on the store's connection pool. Used by `flowyml ui`.
 * @module
 */
import type { PostgresMetadataStore } from "./metadata_store.ts";
import {
  type AuditPage,
  type AuditQuery,
  pageLimit,
  type RunsPage,
  type RunsPageQuery,
  type UiQueries,
} from "../../kernel/ui_queries.ts";
import { decodeJsonValue, type Row, toArtifact, toAudit } from "../_sql/rows.ts";
import { likeEscape, runsWithCounts } from "../_sql/ui_rows.ts";

const RUN_FILTER = `($1::text IS NULL OR r.pipeline = $1) AND ($2::text IS NULL OR r.status = $2)
  AND ($3::bigint IS NULL OR r.started_at >= $3) AND ($4::bigint IS NULL OR r.started_at < $4)
  AND ($5::text IS NULL OR r.run_id LIKE $5 || '%' OR strpos(r.params::text, $6::text) > 0)`;

const COUNTS = `SELECT run_id, COUNT(*) total,
  COUNT(*) FILTER (WHERE status = 'completed') completed, COUNT(*) FILTER (WHERE status = 'cached') cached,
  COUNT(*) FILTER (WHERE status = 'failed') failed, COUNT(*) FILTER (WHERE status = 'running') running,
  COUNT(*) FILTER (WHERE status IN ('skipped', 'cancelled')) skipped,
  COUNT(*) FILTER (WHERE attempts > 1) retried
  FROM step_runs WHERE run_id = ANY($1::text[]) GROUP BY run_id`;

const AUDIT_FILTER = `($1::text IS NULL OR run_id = $1) AND ($2::text IS NULL OR actor = $2)
  AND ($3::text IS NULL OR op = $3) AND ($4::boolean IS NULL OR allowed = $4)
  AND ($5::text IS NULL OR strpos(resource, $5) > 0 OR strpos(COALESCE(detail, ''), $5) > 0)`;

type Param = string | number | boolean | null | string[];
/** Runs one statement on the store's pool. */
type Query = (text: string, args: Param[]) => Promise<Row[]>;

/** {@linkcode UiQueries} over a PostgreSQL metadata store. */
export function postgresUiQueries(store: PostgresMetadataStore): UiQueries {
  const q: Query = async (text, args) => {
    const sql = await store.sql();
    // deno-lint-ignore no-explicit-any
    return await sql.unsafe(text, args as any[]) as unknown as Row[];
  };
  return {
    runsPage: (f) => runsPage(q, f),
    async pipelines() {
      return (await q("SELECT DISTINCT pipeline FROM runs ORDER BY pipeline", []))
        .map((r) => String(r.pipeline));
    },
    async runVersion(runId) {
      const [r] = await q(
        `SELECT r.status, r.ended_at,
           (SELECT COUNT(*) || ':' || COALESCE(SUM(attempts), 0) || ':' ||
              COALESCE(SUM(strpos('pending running completed failed skipped cached cancelled', status)
                * 31 + COALESCE(ended_at, 0) % 1000003), 0)
            FROM step_runs WHERE run_id = r.run_id) steps,
           (SELECT COUNT(*) FROM metrics WHERE run_id = r.run_id) metrics
         FROM runs r WHERE r.run_id = $1`,
        [runId],
      );
      return r ? `${r.status}|${r.ended_at}|${r.steps}|${r.metrics}` : "none";
    },
    async artifactsByHash(hash) {
      const rows = await q(
        "SELECT * FROM artifacts WHERE hash = $1 ORDER BY created_at, run_id",
        [hash],
      );
      return rows.map((r) => toArtifact(r, decodeJsonValue));
    },
    auditPage: (f) => auditPage(q, f),
  };
}

async function runsPage(q: Query, f: RunsPageQuery): Promise<RunsPage> {
  const args: Param[] = [
    f.pipeline ?? null,
    f.status ?? null,
    f.from ?? null,
    f.to ?? null,
    f.search ? likeEscape(f.search) : null,
    f.search ?? null,
  ];
  const [rows, [n]] = await Promise.all([
    q(
      `SELECT * FROM runs r WHERE ${RUN_FILTER} ORDER BY started_at DESC, run_id DESC
       LIMIT $7 OFFSET $8`,
      [...args, pageLimit(f.limit, 50, 500), Math.max(0, f.offset ?? 0)],
    ),
    q(`SELECT COUNT(*) n FROM runs r WHERE ${RUN_FILTER}`, args),
  ]);
  const counts = await q(COUNTS, [rows.map((r) => String(r.run_id))]);
  return { runs: runsWithCounts(rows, counts, decodeJsonValue), total: Number(n.n) };
}

async function auditPage(q: Query, f: AuditQuery): Promise<AuditPage> {
  const args: Param[] = [
    f.runId ?? null,
    f.actor ?? null,
    f.op ?? null,
    f.allowed ?? null,
    f.search || null,
  ];
  const scope = "WHERE ($1::text IS NULL OR run_id = $1)";
  const [rows, [n], actors, ops] = await Promise.all([
    q(`SELECT * FROM audit WHERE ${AUDIT_FILTER} ORDER BY id LIMIT $6 OFFSET $7`, [
      ...args,
      pageLimit(f.limit, 100, 1000),
      Math.max(0, f.offset ?? 0),
    ]),
    q(
      `SELECT COUNT(*) n, COUNT(*) FILTER (WHERE NOT allowed) denied FROM audit
       WHERE ${AUDIT_FILTER}`,
      args,
    ),
    q(`SELECT DISTINCT actor FROM audit ${scope} ORDER BY actor`, [f.runId ?? null]),
    q(`SELECT DISTINCT op FROM audit ${scope} ORDER BY op`, [f.runId ?? null]),
  ]);
  return {
    events: rows.map(toAudit),
    total: Number(n.n),
    denied: Number(n.denied),
    actors: actors.map((r) => String(r.actor)),
    ops: ops.map((r) => String(r.op)),
  };
}
