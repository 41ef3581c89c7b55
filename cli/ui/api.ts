/**
 * The JSON API behind `flowyml ui`'s pages: runs, a run (steps, DAG layout,
 * metrics, artifacts), a step, an artifact (preview and lineage across runs)
 * and compare. Everything is read from the stack's metadata and artifact
 * stores; nothing here writes.
 * @module
 */
import type { Stack } from "../../kernel/stack.ts";
import type { FlowymlConfig } from "../../kernel/config.ts";
import type { ArtifactRecord, LineageEdge, RunRecord, RunStatus } from "../../kernel/records.ts";
import { withLiveStatus } from "../../kernel/run_liveness.ts";
import { recordedShape } from "../../kernel/pipeline_shape.ts";
import { keepsStepLogs } from "../../kernel/step_logs.ts";
import type { RunsPageQuery, UiQueries } from "../../kernel/ui_queries.ts";
import { type GraphEdge, type GraphNode, layoutGraph, runGraph } from "./dag.ts";
import { previewArtifact } from "./preview.ts";
import { loadStream } from "../../kernel/artifacts.ts";

/** What the API handlers share. */
export interface UiContext {
  /** The stack whose stores are shown. */
  stack: Stack;
  /** The project config (stacks and plugins pages). */
  config: FlowymlConfig;
  /** Read queries over the stack's metadata store. */
  queries: UiQueries;
  /** Whether retry/resume buttons work (`--allow-actions`). */
  allowActions: boolean;
}

const STATUSES = new Set(["pending", "running", "completed", "failed", "cancelled", "crashed"]);

function dateMs(v: string | null): number | undefined {
  if (!v) return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}

/** `GET /api/runs`: a filtered page of runs, plus the pipelines for the filter menu. */
export async function runsApi(ctx: UiContext, url: URL): Promise<unknown> {
  const p = url.searchParams;
  const status = STATUSES.has(p.get("status") ?? "") ? p.get("status") as RunStatus : undefined;
  const size = Math.min(200, Math.max(1, Number(p.get("size")) || 50));
  const page = Math.max(1, Math.floor(Number(p.get("page")) || 1));
  const to = dateMs(p.get("to"));
  const q: RunsPageQuery = {
    pipeline: p.get("pipeline") || undefined,
    from: dateMs(p.get("from")),
    // a date-only "to" includes that whole day
    to: to !== undefined && /^\d{4}-\d{2}-\d{2}$/.test(p.get("to")!) ? to + 86_400_000 : to,
    search: p.get("q")?.trim() || undefined,
  };
  let result;
  if (status === "running" || status === "crashed") {
    // `crashed` is derived from liveness: page over the (few) unfinished runs in memory.
    const all = await ctx.queries.runsPage({ ...q, status: "running", limit: 500 });
    const live = all.runs.map((r) => ({ ...withLiveStatus(r), counts: r.counts }))
      .filter((r) => r.status === status);
    result = { runs: live.slice((page - 1) * size, page * size), total: live.length };
  } else {
    result = await ctx.queries.runsPage({ ...q, status, offset: (page - 1) * size, limit: size });
    result.runs = result.runs.map((r) => ({ ...withLiveStatus(r), counts: r.counts }));
  }
  for (const r of result.runs) if (r.extra?.graph) r.extra = { ...r.extra, graph: undefined };
  return { ...result, page, size, pipelines: await ctx.queries.pipelines() };
}

/** Run not found. */
export class NotFound extends Error {}

async function getRun(ctx: UiContext, runId: string): Promise<RunRecord> {
  const run = await ctx.stack.metadataStore.getRun(runId);
  if (!run) throw new NotFound(`no run "${runId}" in stack "${ctx.stack.name}"`);
  return withLiveStatus(run);
}

/** `GET /api/run/<id>` (and each live update): the run, its steps, DAG, metrics and artifacts. */
export async function runApi(ctx: UiContext, runId: string): Promise<unknown> {
  const meta = ctx.stack.metadataStore;
  const run = await getRun(ctx, runId);
  const [steps, lineage, metrics, artifacts, audit] = await Promise.all([
    meta.listStepRuns(runId),
    meta.getLineage({ runId }),
    meta.listMetrics({ runId }),
    meta.listArtifacts(runId),
    ctx.queries.auditPage({ runId, limit: 1 }),
  ]);
  const shape = recordedShape(run.extra);
  const g = runGraph(shape, lineage, steps);
  const { graph: _graph, ...extra } = run.extra ?? {};
  return {
    run: { ...run, extra },
    steps,
    dag: layoutGraph(g.nodes, g.edges),
    metrics,
    artifacts,
    audit: { total: audit.total, denied: audit.denied },
    actions: ctx.allowActions,
  };
}

/** `GET /api/step/<runId>/<step>`: one step run with its metrics, inputs and outputs. */
export async function stepApi(ctx: UiContext, runId: string, step: string): Promise<unknown> {
  const meta = ctx.stack.metadataStore;
  const run = await getRun(ctx, runId);
  const [steps, lineage, metrics, artifacts, audit] = await Promise.all([
    meta.listStepRuns(runId),
    meta.getLineage({ runId }),
    meta.listMetrics({ runId, step }),
    meta.listArtifacts(runId),
    ctx.queries.auditPage({ runId, limit: 200 }),
  ]);
  const rec = steps.find((s) => s.step === step);
  if (!rec) throw new NotFound(`run "${runId}" has no step "${step}"`);
  const edges = lineage.filter((e) => e.step === step);
  const produced = new Map(artifacts.filter((a) => a.step === step).map((a) => [a.name, a]));
  const outputs = Object.entries(rec.outputs ?? {}).map(([name, ref]) => ({
    name,
    ...ref,
    ...(produced.get(name) ?? {}),
  }));
  const producerOf = new Map<string, LineageEdge>();
  for (const e of lineage) if (e.direction === "output") producerOf.set(e.hash, e);
  const inputs = edges.filter((e) => e.direction === "input").map((e) => ({
    ...e,
    producer: producerOf.get(e.hash)?.step,
  }));
  const pluginCalls = audit.events.filter((e) => e.actor === step || e.actor === rec.worker);
  return {
    run,
    step: rec,
    metrics,
    inputs,
    outputs,
    audit: pluginCalls,
    logs: (await stepLogs(ctx, runId, step)).lines,
  };
}

/** Log lines recorded for a step, by attempt (stores that keep them: kernel/step_logs.ts). */
async function stepLogs(ctx: UiContext, runId: string, step: string) {
  const meta = ctx.stack.metadataStore;
  if (!keepsStepLogs(meta)) return { kept: false, lines: [] };
  const lines = await meta.listStepLogs(runId, step);
  return { kept: true, lines: lines.map((l) => ({ attempt: l.attempt, line: l.line, at: l.at })) };
}

/** `GET /api/artifact/<hash>`: records, a preview and the lineage graph up and down across runs. */
export async function artifactApi(ctx: UiContext, hash: string): Promise<unknown> {
  if (!/^[0-9a-f]{16,128}$/.test(hash)) throw new NotFound(`"${hash}" is not an artifact hash`);
  const records = await ctx.queries.artifactsByHash(hash);
  const edges = await ctx.stack.metadataStore.getLineage({ hash });
  if (!records.length && !edges.length) throw new NotFound(`no artifact with hash ${hash}`);
  const lineage = await lineageAround(ctx, hash, edges);
  let preview;
  const first = records[0];
  if (first) {
    try {
      preview = await previewArtifact(ctx.stack.artifactStore, first, {
        blobs: ctx.stack.metadataStore,
      });
    } catch (err) {
      preview = { kind: "error", message: (err as Error).message };
    }
  }
  return { hash, records, preview, lineage };
}

const LINEAGE_MAX = 40;

/** One hop up (inputs of the producing steps) and down (outputs of the consuming steps). */
async function lineageAround(ctx: UiContext, hash: string, edges: LineageEdge[]) {
  const meta = ctx.stack.metadataStore;
  const producers = edges.filter((e) => e.direction === "output").slice(0, LINEAGE_MAX);
  const consumers = edges.filter((e) => e.direction === "input").slice(0, LINEAGE_MAX);
  const runs = new Set([...producers, ...consumers].map((e) => e.runId));
  const byRun = new Map<string, LineageEdge[]>();
  for (const r of runs) byRun.set(r, await meta.getLineage({ runId: r }));
  const nodes = new Map<string, GraphNode & { kind: string; ref: Record<string, string> }>();
  const links: GraphEdge[] = [];
  const art = (e: LineageEdge) => {
    nodes.set(`a:${e.hash}`, {
      id: `a:${e.hash}`,
      label: e.name,
      kind: "artifact",
      ref: { hash: e.hash },
    });
    return `a:${e.hash}`;
  };
  const stp = (e: LineageEdge) => {
    const id = `s:${e.runId}/${e.step}`;
    nodes.set(id, {
      id,
      label: `${e.step} · ${e.runId.slice(-8)}`,
      kind: "step",
      ref: { runId: e.runId, step: e.step },
    });
    return id;
  };
  const center = producers[0] ?? consumers[0];
  art(center);
  for (const p of producers) {
    links.push({ from: stp(p), to: `a:${hash}`, label: p.name });
    for (
      const i of byRun.get(p.runId)!.filter((e) => e.step === p.step && e.direction === "input")
    ) {
      links.push({ from: art(i), to: stp(p), label: i.name });
    }
  }
  for (const c of consumers) {
    links.push({ from: `a:${hash}`, to: stp(c), label: c.name });
    for (
      const o of byRun.get(c.runId)!.filter((e) => e.step === c.step && e.direction === "output")
    ) {
      links.push({ from: stp(c), to: art(o), label: o.name });
    }
  }
  const unique = [...new Map(links.map((l) => [`${l.from}>${l.to}`, l])).values()];
  const layout = layoutGraph([...nodes.values()], unique);
  return {
    producers,
    consumers,
    graph: { ...layout, nodes: layout.nodes.map((n) => ({ ...n, ...nodes.get(n.id) })) },
  };
}

/** `GET /api/artifact/<hash>/download`: the stored bytes. */
export async function downloadArtifact(ctx: UiContext, hash: string): Promise<Response> {
  const [a] = await ctx.queries.artifactsByHash(hash);
  if (!a) throw new NotFound(`no artifact with hash ${hash}`);
  const body = a.inline // small artifacts stored in the metadata store (docs/artifacts.md)
    ? await loadStream(ctx.stack.artifactStore, a, { blobs: ctx.stack.metadataStore })
    : await ctx.stack.artifactStore.readStream(a.path);
  const name = `${a.name.replace(/[^\w.-]+/g, "_")}-${hash.slice(0, 12)}.${extFor(a)}`;
  return new Response(body, {
    headers: {
      "content-type": "application/octet-stream",
      "content-disposition": `attachment; filename="${name}"`,
      "x-content-type-options": "nosniff",
    },
  });
}

function extFor(a: ArtifactRecord): string {
  return a.serializer === "json" ? "json" : a.serializer === "string" ? "txt" : "bin";
}
