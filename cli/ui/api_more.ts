/**
 * The JSON API of `flowyml ui`'s compare, audit and stacks pages.
 * @module
 */
import type { RunRecord, StepRunRecord } from "../../kernel/records.ts";
import { withLiveStatus } from "../../kernel/run_liveness.ts";
import { buildStack } from "../../kernel/stack.ts";
import { getComponentRegistry } from "../../kernel/registry.ts";
import { describeError } from "../../kernel/errors.ts";
import { readLockfile } from "../lockfile.ts";
import { lockfilePath } from "../lockfile.ts";
import { NotFound, type UiContext } from "./api.ts";
import { stackNameOf } from "../../kernel/config.ts";

/** `GET /api/compare?runs=a,b`: params, metrics and steps of 2+ runs side by side. */
export async function compareApi(ctx: UiContext, url: URL): Promise<unknown> {
  const meta = ctx.stack.metadataStore;
  const ids = [...new Set((url.searchParams.get("runs") ?? "").split(",").map((s) => s.trim()))]
    .filter(Boolean).slice(0, 8);
  const runs: RunRecord[] = [];
  const steps: StepRunRecord[][] = [];
  const metrics: Record<string, number>[] = [];
  for (const id of ids) {
    const run = await meta.getRun(id);
    if (!run) throw new NotFound(`no run "${id}" in stack "${ctx.stack.name}"`);
    const { graph: _g, ...extra } = run.extra ?? {};
    runs.push({ ...withLiveStatus(run), extra });
    steps.push(await meta.listStepRuns(id));
    const m: Record<string, number> = {};
    for (const x of await meta.listMetrics({ runId: id })) m[`${x.step}.${x.name}`] = x.value;
    metrics.push(m);
  }
  const paramKeys = [...new Set(runs.flatMap((r) => Object.keys(r.params)))].sort();
  const metricKeys = [...new Set(metrics.flatMap((m) => Object.keys(m)))].sort();
  const stepNames = [...new Set(steps.flat().map((s) => s.step))];
  return {
    runs,
    params: paramKeys.map((k) => {
      const values = runs.map((r) => k in r.params ? JSON.stringify(r.params[k]) : undefined);
      return { key: k, values, differs: new Set(values).size > 1 };
    }),
    metrics: metricKeys.map((k) => {
      const values = metrics.map((m) => m[k]);
      return { key: k, values, differs: new Set(values).size > 1 };
    }),
    steps: stepNames.map((name) => {
      const per = steps.map((list) => list.find((s) => s.step === name));
      const outs = per.map((s) =>
        s?.outputs ? Object.values(s.outputs).map((o) => o.hash).sort().join(",") : undefined
      );
      return {
        step: name,
        runs: per.map((s) =>
          s &&
          { status: s.status, cached: s.cached, durationMs: s.durationMs, attempts: s.attempts }
        ),
        // a step "differs" when its outputs (by content hash) or its status differ
        differs: new Set(outs).size > 1 || new Set(per.map((s) => s?.status)).size > 1,
      };
    }),
  };
}

/** `GET /api/audit`: a filtered page of brokered plugin calls. */
export async function auditApi(ctx: UiContext, url: URL): Promise<unknown> {
  const p = url.searchParams;
  const allowed = p.get("allowed");
  const size = 100;
  const page = Math.max(1, Math.floor(Number(p.get("page")) || 1));
  const result = await ctx.queries.auditPage({
    runId: p.get("run") || undefined,
    actor: p.get("actor") || undefined,
    op: p.get("op") || undefined,
    allowed: allowed === "allowed" ? true : allowed === "denied" ? false : undefined,
    search: p.get("q") || undefined,
    offset: (page - 1) * size,
    limit: size,
  });
  return { ...result, page, size };
}

/** `GET /api/stacks`: configured stacks with their components and permissions, the registry. */
export async function stacksApi(ctx: UiContext): Promise<unknown> {
  const { config } = ctx;
  const names = Object.keys(config.stacks);
  if (!names.includes("local")) names.push("local");
  const stacks = [];
  for (const name of names) {
    try {
      const s = name === ctx.stack.name ? ctx.stack : await buildStack(config, name);
      stacks.push({
        name,
        current: name === ctx.stack.name,
        default: name === stackNameOf(config),
        components: s.components().map(([kind, c]) => ({
          kind,
          type: (c.constructor as { type?: string }).type ?? c.name,
          config: c.toDict(),
          permissions: c.permissions(),
        })),
      });
      if (s !== ctx.stack) await s.close();
    } catch (err) {
      stacks.push({ name, error: describeError(err), components: [] });
    }
  }
  const lock = await readLockfile(lockfilePath(config)).catch(() => ({ components: [] }));
  const pinOf = (kind: string, type: string) =>
    lock.components.find((c) => c.entries.some((x) => x.kind === kind && x.type === type));
  const components = getComponentRegistry().entries().map((e) => {
    const pin = pinOf(e.kind, e.type);
    return {
      kind: e.kind,
      type: e.type,
      origin: e.origin,
      version: e.version,
      source: pin?.source ?? e.source,
      pin: pin?.integrity,
      description: e.description,
    };
  });
  const plugins = Object.entries(config.plugins).map(([name, p]) => ({
    name,
    source: p.source,
    sha256: p.sha256,
    op: p.op,
    grants: p.grants,
    description: p.description,
  }));
  return { stacks, components, plugins };
}
