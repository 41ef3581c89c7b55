/**
 * Run summaries: steps with status, duration, cache hits, artifact URIs and lineage.
 * @module
 */
import type { MetadataStore } from "../kernel/contracts.ts";
import { bytes, ms, table } from "./_common.ts";
import { safeText } from "../kernel/display.ts";

/** Render a run's summary from the metadata store. */
export async function renderRunSummary(
  meta: MetadataStore,
  runId: string,
  options: { lineage?: boolean } = {},
): Promise<string> {
  const run = await meta.getRun(runId);
  if (!run) return `no run ${runId}`;
  const steps = await meta.listStepRuns(runId);
  const out: string[] = [];
  const took = run.endedAt ? ms(run.endedAt - run.startedAt) : "running";
  out.push(`run       ${run.runId}`);
  out.push(`pipeline  ${run.pipeline}   stack ${run.stack}   status ${run.status}   took ${took}`);
  if (Object.keys(run.params).length) out.push(`params    ${JSON.stringify(run.params)}`);
  if (run.image) out.push(`image     ${run.image}`);
  // Errors may quote a plugin: escape control characters.
  if (run.error) out.push(`error     ${safeText(run.error, { multiline: true })}`);
  const hits = steps.filter((s) => s.cached).length;
  out.push(`steps     ${steps.length} (${hits} cache hit${hits === 1 ? "" : "s"})`);
  out.push("");
  out.push(table(
    ["step", "status", "duration", "cache", "attempts", "worker"],
    steps.map((s) => [
      s.step,
      s.status,
      ms(s.durationMs),
      s.cached ? "hit" : s.status === "completed" ? "miss" : "-",
      String(s.attempts),
      s.worker ?? "",
    ]),
  ));
  const failed = steps.filter((s) => s.error);
  for (const s of failed) out.push(`\n${s.step} failed: ${safeText(s.error, { multiline: true })}`);
  const metrics = await meta.listMetrics({ runId });
  if (metrics.length) {
    out.push("\nmetrics");
    out.push(table(
      ["step", "metric", "value"],
      metrics.map((m) => [m.step, safeText(m.name), formatMetric(m.value)]),
    ));
  }
  const arts = steps.flatMap((s) =>
    Object.entries(s.outputs ?? {}).map(([n, r]) => ({ step: s.step, n, r }))
  );
  if (arts.length) {
    out.push("\nartifacts");
    out.push(table(
      ["name", "step", "size", "serializer", "uri"],
      arts.map(({ step, n, r }) => [n, step, bytes(r.size), r.serializer, r.uri]),
    ));
  }
  if (options.lineage) {
    const edges = await meta.getLineage({ runId });
    out.push("\nlineage");
    const byStep = new Map<string, { in: string[]; out: string[] }>();
    for (const e of edges) {
      const v = byStep.get(e.step) ?? { in: [], out: [] };
      (e.direction === "input" ? v.in : v.out).push(`${e.name}@${e.hash.slice(0, 10)}`);
      byStep.set(e.step, v);
    }
    for (const [s, v] of byStep) {
      out.push(
        `  ${v.in.length ? v.in.join(", ") : "(no inputs)"}  →  ${s}  →  ${
          v.out.join(", ") || "(no outputs)"
        }`,
      );
    }
  }
  return out.join("\n");
}

function formatMetric(v: number): string {
  return Number.isInteger(v) ? String(v) : Math.abs(v) >= 1e-3 ? v.toFixed(4) : v.toExponential(3);
}
