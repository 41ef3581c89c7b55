/**
 * Read queries for dashboards (`flowyml ui`): a page of runs with their step
 * counts, filtered and searched on the server; a cheap "has this run
 * changed?" version string for live updates; artifacts by hash across runs;
 * and a filtered page of the audit trail. The SQL metadata stores answer these
 * with one query each (plugins/sqlite/ui_queries.ts,
 * plugins/postgres/ui_queries.ts), declared by type with
 * {@linkcode registerUiQueries} in their `register.ts`;
 * {@linkcode contractUiQueries} answers them for any other store through the
 * `MetadataStore` contract (slower, bounded). {@linkcode uiQueriesFor} picks.
 * @module
 */
import type { MetadataStore } from "./metadata_store.ts";
import type { ArtifactRecord, AuditEvent, RunRecord, RunStatus } from "./records.ts";

/** Filters and page of {@linkcode UiQueries.runsPage}. */
export interface RunsPageQuery {
  /** Only runs of this pipeline. */
  pipeline?: string;
  /** Only runs with this stored status (`crashed` is derived by readers; ask for `running`). */
  status?: RunStatus;
  /** Only runs started at or after this time, ms since the epoch. */
  from?: number;
  /** Only runs started before this time, ms since the epoch. */
  to?: number;
  /** A run id prefix, or text found in the run's params (JSON). */
  search?: string;
  /** Rows to skip (default 0). */
  offset?: number;
  /** Rows to return (default 50, at most 500). */
  limit?: number;
}

/** Step counts of a run, by status. */
export interface StepCounts {
  /** Step runs recorded so far. */
  total: number;
  /** Completed by running. */
  completed: number;
  /** Served from the cache. */
  cached: number;
  /** Failed. */
  failed: number;
  /** Running now. */
  running: number;
  /** Skipped (upstream failed) or cancelled. */
  skipped: number;
  /** Step runs that needed more than one attempt. */
  retried: number;
}

/** A run with its step counts. */
export interface RunSummary extends RunRecord {
  /** Counts of its step runs by status. */
  counts: StepCounts;
}

/** A page of runs, newest first, and how many match in all. */
export interface RunsPage {
  /** The runs of this page. */
  runs: RunSummary[];
  /** Runs matching the filters, over all pages. */
  total: number;
}

/** Filters and page of {@linkcode UiQueries.auditPage}. */
export interface AuditQuery {
  /** Only events of this run. */
  runId?: string;
  /** Only events of this plugin or component. */
  actor?: string;
  /** Only this operation, e.g. `artifacts.get`. */
  op?: string;
  /** Only allowed (`true`) or denied (`false`) events. */
  allowed?: boolean;
  /** Text found in the resource or detail. */
  search?: string;
  /** Rows to skip (default 0). */
  offset?: number;
  /** Rows to return (default 100, at most 1000). */
  limit?: number;
}

/** A page of audit events, oldest first, with the values the filters can take. */
export interface AuditPage {
  /** The events of this page. */
  events: AuditEvent[];
  /** Events matching the filters, over all pages. */
  total: number;
  /** Denied events matching the filters. */
  denied: number;
  /** Every actor in the trail (for a filter menu). */
  actors: string[];
  /** Every operation in the trail (for a filter menu). */
  ops: string[];
}

/** Dashboard read queries over one metadata store. */
export interface UiQueries {
  /** A page of runs matching `q`, newest first, with step counts. */
  runsPage(q: RunsPageQuery): Promise<RunsPage>;
  /** Names of the pipelines that have runs. */
  pipelines(): Promise<string[]>;
  /** A string that changes whenever the run, its step runs or its metrics change. */
  runVersion(runId: string): Promise<string>;
  /** Every artifact record with this content hash, across runs, oldest first. */
  artifactsByHash(hash: string): Promise<ArtifactRecord[]>;
  /** A page of the audit trail matching `q`. */
  auditPage(q: AuditQuery): Promise<AuditPage>;
}

/** Clamp a page size. */
export function pageLimit(limit: number | undefined, fallback: number, max: number): number {
  const n = Math.floor(Number(limit ?? fallback));
  return Number.isFinite(n) && n > 0 ? Math.min(n, max) : fallback;
}

/** Step counts from a list of step statuses and attempts. */
export function countSteps(
  steps: Iterable<{ status: string; attempts: number }>,
): StepCounts {
  const c: StepCounts = {
    total: 0,
    completed: 0,
    cached: 0,
    failed: 0,
    running: 0,
    skipped: 0,
    retried: 0,
  };
  for (const s of steps) {
    c.total++;
    if (s.status === "completed") c.completed++;
    else if (s.status === "cached") c.cached++;
    else if (s.status === "failed") c.failed++;
    else if (s.status === "running") c.running++;
    else if (s.status === "skipped" || s.status === "cancelled") c.skipped++;
    if (s.attempts > 1) c.retried++;
  }
  return c;
}

const CONTRACT_MAX_RUNS = 10_000;

function matchesRun(r: RunRecord, q: RunsPageQuery): boolean {
  if (q.from !== undefined && r.startedAt < q.from) return false;
  if (q.to !== undefined && r.startedAt >= q.to) return false;
  if (!q.search) return true;
  return r.runId.startsWith(q.search) || JSON.stringify(r.params).includes(q.search);
}

/**
 * {@linkcode UiQueries} for any metadata store, through its contract methods:
 * filters are applied in memory over the newest 10,000 runs. The SQL stores
 * have faster implementations.
 */
export function contractUiQueries(meta: MetadataStore): UiQueries {
  return {
    async runsPage(q) {
      const all = (await meta.listRuns({
        pipeline: q.pipeline,
        status: q.status,
        limit: CONTRACT_MAX_RUNS,
      })).filter((r) => matchesRun(r, q));
      const offset = Math.max(0, q.offset ?? 0);
      const page = all.slice(offset, offset + pageLimit(q.limit, 50, 500));
      const runs = await Promise.all(page.map(async (r) => ({
        ...r,
        counts: countSteps(await meta.listStepRuns(r.runId)),
      })));
      return { runs, total: all.length };
    },
    async pipelines() {
      const runs = await meta.listRuns({ limit: CONTRACT_MAX_RUNS });
      return [...new Set(runs.map((r) => r.pipeline))].sort();
    },
    async runVersion(runId) {
      const [run, steps, metrics] = await Promise.all([
        meta.getRun(runId),
        meta.listStepRuns(runId),
        meta.listMetrics({ runId }),
      ]);
      return JSON.stringify([
        run?.status,
        run?.endedAt,
        steps.map((s) => [s.status, s.attempts, s.endedAt]),
        metrics.length,
      ]);
    },
    async artifactsByHash(hash) {
      const edges = await meta.getLineage({ hash });
      const out: ArtifactRecord[] = [];
      for (
        const runId of new Set(edges.filter((e) => e.direction === "output").map((e) => e.runId))
      ) {
        out.push(...(await meta.listArtifacts(runId)).filter((a) => a.hash === hash));
      }
      return out.sort((a, b) => a.createdAt - b.createdAt);
    },
    async auditPage(q) {
      const runIds = q.runId
        ? [q.runId]
        : (await meta.listRuns({ limit: CONTRACT_MAX_RUNS })).map((r) => r.runId);
      const all: AuditEvent[] = [];
      for (const id of runIds) all.push(...await meta.listAudit(id));
      return auditPageOf(all, q);
    },
  };
}

/** Filter and page audit events in memory (for stores without SQL). */
export function auditPageOf(all: AuditEvent[], q: AuditQuery): AuditPage {
  const hit = all.filter((e) =>
    (q.actor === undefined || e.actor === q.actor) &&
    (q.op === undefined || e.op === q.op) &&
    (q.allowed === undefined || e.allowed === q.allowed) &&
    (!q.search || e.resource.includes(q.search) || (e.detail ?? "").includes(q.search))
  ).sort((a, b) => a.at - b.at);
  const offset = Math.max(0, q.offset ?? 0);
  return {
    events: hit.slice(offset, offset + pageLimit(q.limit, 100, 1000)),
    total: hit.length,
    denied: hit.filter((e) => !e.allowed).length,
    actors: [...new Set(all.map((e) => e.actor))].sort(),
    ops: [...new Set(all.map((e) => e.op))].sort(),
  };
}

/** Loads a metadata store type's own {@linkcode UiQueries} builder (e.g. SQL). */
export type UiQueriesLoader = () => Promise<(store: MetadataStore) => UiQueries>;

const uiQueriesLoaders = new Map<string, UiQueriesLoader>();

/**
 * Declare the dashboard queries of a metadata store type (a plugin's
 * `register.ts` does, e.g. `sqlite`, `postgres`); the module loads only when
 * a dashboard opens a store of that type. The first loader of a type wins.
 */
export function registerUiQueries(type: string, load: UiQueriesLoader): void {
  if (!uiQueriesLoaders.has(type)) uiQueriesLoaders.set(type, load);
}

/**
 * The fastest {@linkcode UiQueries} for a metadata store: its type's own
 * (see {@linkcode registerUiQueries}), else {@linkcode contractUiQueries}.
 */
export async function uiQueriesFor(meta: MetadataStore): Promise<UiQueries> {
  const load = uiQueriesLoaders.get((meta.constructor as { type?: string }).type ?? "");
  return load ? (await load())(meta) : contractUiQueries(meta);
}
