/**
 * HTTP op: `http.fetch`, to hosts in `grants.net`, through the call's net
 * helper process (broker_http.ts, net_helper.ts). Secret handles in headers
 * are resolved by the kernel; everything the answer says is redacted.
 * @module
 */
import { z } from "zod";
import { brokeredFetch, fetchTarget } from "../broker_http.ts";
import { defineOp, handleId, optStr, str } from "./types.ts";

/** `http.fetch`: `status`, `headers`, `url` (after redirects) and the body as a read handle. */
export const httpFetch = defineOp({
  name: "http.fetch",
  schema: z.object({
    url: str,
    method: optStr,
    headers: z.record(z.string(), z.union([z.string(), z.object({ secret: z.string() })]))
      .optional(),
    handle: handleId.optional(),
  }),
  grant: "net",
  check(q, env) {
    const t = fetchTarget(q.url, env.ctx.grants);
    return "denied" in t ? t : undefined;
  },
  async handle(q, env, payload) {
    const g = env.ctx.grants;
    const deadline = env.ctx.deadline;
    const out = await brokeredFetch(q, payload, {
      grants: g,
      secrets: env.secrets,
      redactor: env.redactor,
      audit: env.audit,
      maxBytes: Math.min(g.max_output, g.memory - env.held.bytes),
      timeLeft: () => deadline ? deadline() - Date.now() : Number.POSITIVE_INFINITY,
      signal: env.ctx.signal,
      helper: env.netHelper,
      dropHelper: env.dropNetHelper,
    });
    if (out.denied) return out;
    const refused = env.hold(out.resource, out.body.length);
    if (refused) return refused;
    const json = env.redactor.empty
      ? out.json
      : JSON.parse(env.redactor.redact(JSON.stringify(out.json)));
    return { resource: out.resource, json, payload: out.body, detail: out.detail };
  },
});
