/**
 * Orchestration ops, under `grants.orchestration`: `orchestration.status`
 * (any plugin: the step records of the run, or the live state for the run's
 * orchestrator plugin) and `orchestration.submit` / `orchestration.await`
 * (only the run's orchestrator plugin, through its {@linkcode RunControl}).
 * @module
 */
import { z } from "zod";
import { type RunControl, SchedulingError } from "../../scheduling.ts";
import { defineOp, type Denial, type OpEnv, optStr, type Outcome, str } from "./types.ts";

/** The grant check of every orchestration op; `resource` names the step or ticket. */
function granted(resource: string, env: OpEnv): Denial | undefined {
  return env.ctx.grants.orchestration
    ? undefined
    : { resource, why: "not granted (grants.orchestration: false)" };
}

/** Runs `fn` on the run's control; a {@linkcode SchedulingError} becomes a denial. */
async function withControl(
  resource: string,
  env: OpEnv,
  fn: (ctl: RunControl) => Outcome | Promise<Outcome>,
): Promise<Outcome> {
  const ctl = env.ctx.orchestration;
  if (!ctl) {
    return {
      resource,
      why: "only the run's orchestrator plugin (orchestrator: { type: wasm }) can submit or " +
        "await steps",
      code: "unsupported",
    };
  }
  try {
    return await fn(ctl);
  } catch (e) {
    if (e instanceof SchedulingError) return { resource, why: e.message, code: e.code };
    throw e;
  }
}

/** `orchestration.status`: the steps of the current run (and `status` when `step` is given). */
export const orchestrationStatus = defineOp({
  name: "orchestration.status",
  schema: z.object({ step: optStr }),
  grant: "orchestration",
  check: (q, env) => granted(q.step ?? "(run)", env),
  async handle(q, env) {
    const resource = q.step ?? "(run)";
    const ctl = env.ctx.orchestration;
    if (ctl) {
      try {
        const steps = ctl.status(q.step);
        return { resource, json: { steps, ...(q.step ? { status: steps[0].status } : {}) } };
      } catch (e) {
        if (e instanceof SchedulingError) return { resource, why: e.message, code: e.code };
        throw e;
      }
    }
    const records = (await env.ctx.stack?.metadataStore.listStepRuns(env.ctx.runId)) ?? [];
    const steps = records.filter((s) => !q.step || s.step === q.step)
      .map((s) => ({ step: s.step, status: s.status }));
    return { resource, json: { steps } };
  },
});

/** `orchestration.submit`: start (or queue) a ready step; answers its ticket. */
export const orchestrationSubmit = defineOp({
  name: "orchestration.submit",
  schema: z.object({ step: str }),
  grant: "orchestration",
  check: (q, env) => granted(q.step, env),
  handle: (q, env) =>
    withControl(q.step, env, (ctl) => {
      const r = ctl.submit(q.step);
      return { resource: q.step, json: r, detail: `ticket ${r.ticket}, ${r.status}` };
    }),
});

/** `orchestration.await`: wait for a ticket's step, never past the call's deadline. */
export const orchestrationAwait = defineOp({
  name: "orchestration.await",
  schema: z.object({ ticket: str, timeout_ms: z.number().nonnegative().optional() }),
  grant: "orchestration",
  check: (q, env) => granted(q.ticket, env),
  handle: (q, env) =>
    withControl(q.ticket, env, async (ctl) => {
      // Never block past the call's deadline: the plugin must get control back to be stopped.
      const deadline = env.ctx.deadline;
      const left = deadline === undefined ? undefined : Math.max(0, deadline() - Date.now() + 20);
      const timeoutMs = q.timeout_ms === undefined
        ? left
        : left === undefined
        ? q.timeout_ms
        : Math.min(q.timeout_ms, left);
      const s = await ctl.wait(q.ticket, { timeoutMs, signal: env.ctx.signal });
      return {
        resource: s.step,
        json: { ...s, timed_out: !s.done },
        detail: `ticket ${q.ticket}: ${s.status}${s.done ? "" : " (wait timed out)"}`,
      };
    }),
});
