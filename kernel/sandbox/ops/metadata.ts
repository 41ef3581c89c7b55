/**
 * Metadata ops: `metadata.log` (metrics of the calling step, params in the
 * audit trail and step log) and `metadata.run` (the current run), both under
 * `grants.metadata`.
 * @module
 */
import { z } from "zod";
import { defineOp, type OpEnv } from "./types.ts";

const NOT_GRANTED = "not granted (grants.metadata: false)";

/** Records numeric metrics as the calling step's. */
async function logMetrics(metrics: Record<string, number>, env: OpEnv): Promise<void> {
  const ctx = env.ctx;
  if (ctx.logMetrics) return ctx.logMetrics(metrics);
  const at = Date.now();
  await ctx.stack?.metadataStore.logMetrics(
    Object.entries(metrics).map(([name, value]) => ({
      runId: ctx.runId,
      step: ctx.step ?? ctx.plugin,
      name,
      value,
      at,
    })),
  );
}

/** `metadata.log`: metrics (finite numbers) and params of the calling step. */
export const metadataLog = defineOp({
  name: "metadata.log",
  schema: z.object({
    metrics: z.record(z.string(), z.number()).optional(),
    params: z.record(z.string(), z.unknown()).optional(),
  }),
  grant: "metadata",
  check: (_q, env) =>
    env.ctx.grants.metadata ? undefined : { resource: "metrics", why: NOT_GRANTED },
  async handle(q, env) {
    const metrics = q.metrics ?? {};
    const detail = JSON.stringify({ metrics, params: q.params ?? {} });
    env.trail.log(`metrics ${detail}`);
    const bad = Object.entries(metrics).find(([, v]) => !Number.isFinite(v));
    if (bad) return { resource: `metrics.${bad[0]}`, why: "a metric must be a finite number" };
    if (Object.keys(metrics).length) await logMetrics(metrics, env);
    return { resource: "metrics", detail: detail.slice(0, 4000) };
  },
});

/** `metadata.run`: the run this call works for, and the calling step. */
export const metadataRun = defineOp({
  name: "metadata.run",
  schema: z.object({}),
  grant: "metadata",
  check: (_q, env) =>
    env.ctx.grants.metadata ? undefined : { resource: env.ctx.runId, why: NOT_GRANTED },
  async handle(_q, env) {
    const run = await env.ctx.stack?.metadataStore.getRun(env.ctx.runId);
    return {
      resource: env.ctx.runId,
      json: {
        run: run
          ? { runId: run.runId, pipeline: run.pipeline, status: run.status, stack: run.stack }
          : null,
        step: env.ctx.step ?? null,
      },
    };
  },
});
