/**
 * The broker: every request a plugin sends is parsed, checked against its
 * grants, served on the kernel's side and written to the audit trail —
 * allowed or denied. A denied request returns a structured error to the
 * plugin; a malformed or oversized one ends the call.
 *
 * Everything the broker says — answers, audit rows, log lines, errors — is
 * redacted by value (redact.ts), so no secret value comes back in clear.
 * Audit rows and log lines are bounded per call (broker_audit.ts); bytes the
 * plugin pulls into host-side handles (`artifacts.get`, `http.fetch`
 * bodies) count against a per-call quota of `grants.memory`; HTTP goes
 * through a net helper process (broker_http.ts, net_helper.ts).
 * @module
 */
import { z } from "zod";
import type { StackLike } from "../contracts.ts";
import { describeError } from "../errors.ts";
import { formatZodIssues } from "../schema.ts";
import type { AuditEvent } from "../records.ts";
import { getComponentRegistry } from "../registry.ts";
import type { ComponentKind } from "../component.ts";
import { type RunControl, SchedulingError } from "../scheduling.ts";
import { anyMatch, checkArtifactPath, type Grants } from "./grants.ts";
import { type BrokerResponse, type ErrorCode, PROTOCOL_VERSION } from "./protocol.ts";
import { type AuditLimits, AuditTrail } from "./broker_audit.ts";
import { brokeredFetch } from "./broker_http.ts";
import { NetHelper } from "./net_helper.ts";
import { Redactor } from "./redact.ts";

const path = z.string();
/** Schema of every request a plugin can send. */
const requestSchema = z.discriminatedUnion("op", [
  z.object({ op: z.literal("artifacts.get"), path }),
  z.object({ op: z.literal("artifacts.put"), path, handle: z.number().int().positive() }),
  z.object({ op: z.literal("artifacts.exists"), path }),
  z.object({ op: z.literal("artifacts.list"), prefix: z.string() }),
  z.object({
    op: z.literal("metadata.log"),
    metrics: z.record(z.string(), z.number()).optional(),
    params: z.record(z.string(), z.unknown()).optional(),
  }),
  z.object({ op: z.literal("metadata.run") }),
  z.object({ op: z.literal("registry.resolve"), kind: z.string(), name: z.string() }),
  z.object({ op: z.literal("orchestration.status"), step: z.string().optional() }),
  z.object({ op: z.literal("orchestration.submit"), step: z.string() }),
  z.object({
    op: z.literal("orchestration.await"),
    ticket: z.string(),
    timeout_ms: z.number().nonnegative().optional(),
  }),
  z.object({ op: z.literal("log"), level: z.string().optional(), message: z.string() }),
  z.object({ op: z.literal("config.get"), key: z.string() }),
  z.object({ op: z.literal("env.get"), name: z.string() }),
  z.object({ op: z.literal("secrets.get"), name: z.string() }),
  z.object({
    op: z.literal("http.fetch"),
    url: z.string(),
    method: z.string().optional(),
    headers: z.record(z.string(), z.union([z.string(), z.object({ secret: z.string() })]))
      .optional(),
    handle: z.number().int().positive().optional(),
  }),
]).and(z.object({ v: z.literal(PROTOCOL_VERSION) }).loose());

/** A parsed request. */
type BrokerRequest = z.output<typeof requestSchema>;

/**
 * Fixed-shape ops checked by hand on the hot path: field → "s" (string),
 * "s?" (optional string) or "h" (positive integer handle). Anything these checks
 * do not accept goes through `requestSchema`, which refuses it with a message.
 */
const FAST: Record<string, Record<string, "s" | "s?" | "h">> = {
  "artifacts.get": { path: "s" },
  "artifacts.exists": { path: "s" },
  "artifacts.put": { path: "s", handle: "h" },
  "artifacts.list": { prefix: "s" },
  "metadata.run": {},
  "config.get": { key: "s" },
  "env.get": { name: "s" },
  "secrets.get": { name: "s" },
  "log": { message: "s", level: "s?" },
};

/** `parsed` as a request if it is a well-formed fixed-shape one, else undefined. */
function fastParse(parsed: unknown): BrokerRequest | undefined {
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return undefined;
  const o = parsed as Record<string, unknown>;
  if (o.v !== PROTOCOL_VERSION || typeof o.op !== "string" || !Object.hasOwn(FAST, o.op)) {
    return undefined;
  }
  const out: Record<string, unknown> = { v: PROTOCOL_VERSION, op: o.op };
  for (const [k, t] of Object.entries(FAST[o.op])) {
    const x = o[k];
    if (t === "s?" && x === undefined) continue;
    if (t === "h" ? !(Number.isInteger(x) && (x as number) > 0) : typeof x !== "string") {
      return undefined;
    }
    out[k] = x;
  }
  return out as BrokerRequest;
}

/** Context a broker serves: the plugin, its grants and the run it works for. */
export interface BrokerContext {
  plugin: string;
  grants: Grants;
  runId: string;
  step?: string;
  stack?: StackLike;
  log?: (message: string) => void;
  /** Records metrics of the calling step (`metadata.log`); without it they go to the store. */
  logMetrics?: (metrics: Record<string, number>) => void;
  /** Who the audit rows name (default: `plugin`), e.g. `store_plugin@train`. */
  actor?: string;
  /** Caps of the call's audit rows and log lines (default {@linkcode AUDIT_LIMITS}). */
  auditLimits?: Partial<AuditLimits>;
  /** Max handles a call may pull in with `artifacts.get`/`http.fetch`. Default 1,024. */
  maxHandles?: number;
  /** The run this call schedules (orchestrator plugins): enables submit and await. */
  orchestration?: RunControl;
  /** When the call's time runs out (epoch ms); `orchestration.await` never blocks past it. */
  deadline?: () => number;
  /** Aborted when the call is cancelled; ends a blocked `orchestration.await`. */
  signal?: AbortSignal;
}

const dec = new TextDecoder();

/** Serves one call's requests and collects its audit events. */
export class Broker {
  readonly ctx: BrokerContext;
  /** The call's audit rows and log lines, bounded. */
  readonly trail: AuditTrail;
  /** Redacts the values of the secrets this call may use. */
  readonly redactor: Redactor = new Redactor();
  /** The last denial, e.g. `artifacts.get secrets/x: not granted`. */
  lastDenial?: string;
  /** Host-side handle bytes and count pulled in during this call (quota: grants.memory). */
  held = { bytes: 0, count: 0 };
  #secrets = new Map<string, string>();
  #net?: NetHelper;

  constructor(ctx: BrokerContext) {
    this.ctx = ctx;
    for (const name of ctx.grants.secrets) {
      if (/[*?]/.test(name)) continue; // a glob: its values are added as they are resolved
      let value: string | undefined;
      try {
        value = Deno.env.get(name);
      } catch {
        // no env permission here: http.fetch says so when the secret is used
      }
      if (value !== undefined) this.redactor.add(name, value);
    }
    this.trail = new AuditTrail(
      { runId: ctx.runId, actor: ctx.actor ?? ctx.plugin },
      {
        redactor: this.redactor,
        sink: ctx.stack ? (e) => ctx.stack!.metadataStore.recordAudit(e) : undefined,
        log: ctx.log,
        limits: ctx.auditLimits,
      },
    );
  }

  /** Audit events not yet written (the caller may append its own before {@linkcode flush}). */
  get events(): AuditEvent[] {
    return this.trail.events;
  }

  /** `text` redacted (secret values) and safe to display. */
  clean(text: string): string {
    return this.trail.clean(text, 10_000);
  }

  /** A plugin log line (Extism `log_*` or the `log` op), capped, redacted and made safe. */
  pluginLog = (level: string, message: string): void => {
    this.trail.log(`${level}: ${message}`);
  };

  /**
   * Audit a read the plugin made through an Extism host function rather than a request
   * (`config_get`, `var_get`): the plugin host reports each one here, as `extism.<fn> <key>`.
   */
  hostRead = (fn: string, key: string, found: boolean): void => {
    this.#audit(`extism.${fn}`, key, true, found ? undefined : "not set");
  };

  #audit(op: string, resource: string, allowed: boolean, detail?: string): void {
    this.trail.record(op, resource, allowed, detail);
  }

  #deny(op: string, resource: string, why: string, code: ErrorCode = "denied"): BrokerResponse {
    this.#audit(op, resource, false, why);
    const message = this.clean(`${op} ${resource}: ${why}`);
    this.lastDenial = message;
    return { json: { ok: false, error: { code, message } } };
  }

  #fatal(op: string, resource: string, code: ErrorCode, why: string): BrokerResponse {
    this.#audit(op, resource, false, `${code}: ${why}`);
    return { json: { error: { code, message: this.clean(why) } }, fatal: true };
  }

  /** Counts `bytes` in a new host-side handle against the call's quota; a denial if over. */
  #hold(op: string, resource: string, bytes: number): BrokerResponse | undefined {
    const quota = this.ctx.grants.memory;
    const max = this.ctx.maxHandles ?? 1024;
    if (this.held.count + 1 > max) {
      return this.#deny(
        op,
        resource,
        `more than ${max} handles pulled in by one call`,
        "oversized",
      );
    }
    if (this.held.bytes + bytes > quota) {
      return this.#deny(
        op,
        resource,
        `${bytes} more bytes would hold ${this.held.bytes + bytes} bytes of host-side handles in ` +
          `this call, over the plugin's memory grant of ${quota} bytes (grants.memory)`,
        "oversized",
      );
    }
    this.held.count++;
    this.held.bytes += bytes;
    return undefined;
  }

  #ok(
    op: string,
    resource: string,
    json: Record<string, unknown> = {},
    payload?: Uint8Array,
    detail?: string,
  ) {
    this.#audit(op, resource, true, detail);
    return { json: { ok: true, ...json }, ...(payload ? { payload } : {}) };
  }

  /** Handle one raw request. */
  handle = async (raw: Uint8Array, payload: Uint8Array): Promise<BrokerResponse> => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(dec.decode(raw));
    } catch {
      return this.#fatal(
        "protocol",
        "(request)",
        "malformed",
        `request is not valid JSON (${raw.length} bytes)`,
      );
    }
    const op0 = (parsed as { op?: unknown })?.op;
    if (op0 === "__oversized") {
      const size = (parsed as { size?: number }).size;
      return this.#fatal(
        "protocol",
        "(request)",
        "oversized",
        `request of ${size} bytes exceeds max_message`,
      );
    }
    const fast = fastParse(parsed);
    const r = fast ? { success: true as const, data: fast } : requestSchema.safeParse(parsed);
    if (!r.success) {
      const v = (parsed as { v?: unknown })?.v;
      const why = v !== PROTOCOL_VERSION
        ? `protocol version ${
          JSON.stringify(v)
        } is not supported (this kernel speaks v${PROTOCOL_VERSION})`
        : formatZodIssues(r.error);
      return this.#fatal(
        typeof op0 === "string" ? op0.slice(0, 64) : "protocol",
        "(request)",
        "malformed",
        why,
      );
    }
    try {
      return await this.#serve(r.data, payload);
    } catch (err) {
      const op = r.data.op;
      this.#audit(op, "(error)", true, `failed: ${describeError(err)}`);
      return {
        json: { ok: false, error: { code: "failed", message: this.clean(describeError(err)) } },
      };
    }
  };

  async #serve(q: BrokerRequest, payload: Uint8Array): Promise<BrokerResponse> {
    const g = this.ctx.grants;
    const store = this.ctx.stack?.artifactStore;
    switch (q.op) {
      case "artifacts.get":
      case "artifacts.exists":
      case "artifacts.put": {
        const p = checkArtifactPath(q.path);
        if ("error" in p) return this.#deny(q.op, String(q.path), p.error);
        const write = q.op === "artifacts.put";
        const grant = write ? g.artifacts.write : g.artifacts.read;
        if (!anyMatch(grant, p.path)) {
          return this.#deny(
            q.op,
            p.path,
            `not granted (grants.artifacts.${write ? "write" : "read"}: ${JSON.stringify(grant)})`,
          );
        }
        if (!store) {
          return this.#deny(q.op, p.path, "no artifact store in this context", "unsupported");
        }
        if (q.op === "artifacts.exists") {
          return this.#ok(q.op, p.path, { exists: await store.exists(p.path) });
        }
        if (q.op === "artifacts.get") return await this.#get(q.op, p.path);
        if (!payload.length && q.handle) {
          // the worker attaches the handle's bytes; none means the handle does not exist or is empty
        }
        await store.writeBytes(p.path, payload.slice());
        return this.#ok(
          q.op,
          p.path,
          { size: payload.length },
          undefined,
          `${payload.length} bytes`,
        );
      }
      case "artifacts.list": {
        if (!store) {
          return this.#deny(q.op, q.prefix, "no artifact store in this context", "unsupported");
        }
        // Only names inside the grant, and the same answer whether others exist or not.
        const visible = (await store.list(q.prefix))
          .filter((o) => anyMatch(g.artifacts.read, o.path))
          .map((o) => ({ path: o.path, size: o.size }));
        return this.#ok(q.op, q.prefix, { items: visible }, undefined, `${visible.length} items`);
      }
      case "metadata.log": {
        if (!g.metadata) return this.#deny(q.op, "metrics", "not granted (grants.metadata: false)");
        const detail = JSON.stringify({ metrics: q.metrics ?? {}, params: q.params ?? {} });
        this.trail.log(`metrics ${detail}`);
        const metrics = q.metrics ?? {};
        const bad = Object.entries(metrics).find(([, v]) => !Number.isFinite(v));
        if (bad) return this.#deny(q.op, `metrics.${bad[0]}`, "a metric must be a finite number");
        if (Object.keys(metrics).length) {
          if (this.ctx.logMetrics) this.ctx.logMetrics(metrics);
          else {
            const at = Date.now();
            await this.ctx.stack?.metadataStore.logMetrics(
              Object.entries(metrics).map(([name, value]) => ({
                runId: this.ctx.runId,
                step: this.ctx.step ?? this.ctx.plugin,
                name,
                value,
                at,
              })),
            );
          }
        }
        return this.#ok(q.op, "metrics", {}, undefined, detail.slice(0, 4000));
      }
      case "metadata.run": {
        if (!g.metadata) {
          return this.#deny(q.op, this.ctx.runId, "not granted (grants.metadata: false)");
        }
        const run = await this.ctx.stack?.metadataStore.getRun(this.ctx.runId);
        return this.#ok(q.op, this.ctx.runId, {
          run: run
            ? { runId: run.runId, pipeline: run.pipeline, status: run.status, stack: run.stack }
            : null,
          step: this.ctx.step ?? null,
        });
      }
      case "registry.resolve": {
        const res = `${q.kind}/${q.name}`;
        if (!g.registry) return this.#deny(q.op, res, "not granted (grants.registry: false)");
        if (q.kind === "image") {
          const reg = this.ctx.stack?.containerRegistry;
          if (!reg) {
            return this.#deny(q.op, res, "the stack has no container registry", "not_found");
          }
          const [name, tag = "latest"] = q.name.split(":");
          return this.#ok(q.op, res, { uri: reg.getImageUri(name, tag) });
        }
        const e = getComponentRegistry().entry(q.kind as ComponentKind, q.name);
        if (!e) return this.#deny(q.op, res, "no such component", "not_found");
        return this.#ok(q.op, res, {
          type: e.type,
          kind: e.kind,
          origin: e.origin,
          version: e.version ?? null,
        });
      }
      case "orchestration.status": {
        const res = q.step ?? "(run)";
        if (!g.orchestration) {
          return this.#deny(q.op, res, "not granted (grants.orchestration: false)");
        }
        const ctl = this.ctx.orchestration;
        if (ctl) {
          try {
            const steps = ctl.status(q.step);
            return this.#ok(q.op, res, { steps, ...(q.step ? { status: steps[0].status } : {}) });
          } catch (e) {
            if (e instanceof SchedulingError) return this.#deny(q.op, res, e.message, e.code);
            throw e;
          }
        }
        const steps = (await this.ctx.stack?.metadataStore.listStepRuns(this.ctx.runId)) ?? [];
        const items = steps.filter((s) => !q.step || s.step === q.step).map((s) => ({
          step: s.step,
          status: s.status,
        }));
        return this.#ok(q.op, res, { steps: items });
      }
      case "orchestration.submit":
      case "orchestration.await":
        return await this.#orchestrate(q);
      case "log": {
        this.trail.log(q.message.slice(0, 10_000));
        this.#audit(q.op, q.level ?? "info", true);
        return { json: { ok: true } };
      }
      case "config.get": {
        // Own keys only: __proto__, constructor, toString … are unknown keys.
        if (!Object.hasOwn(g.config, q.key)) {
          return this.#deny(q.op, q.key, "not granted (not in grants.config)");
        }
        return this.#ok(q.op, q.key, { value: g.config[q.key] });
      }
      case "env.get": {
        if (!anyMatch(g.env, q.name)) {
          return this.#deny(q.op, q.name, `not granted (grants.env: ${JSON.stringify(g.env)})`);
        }
        return this.#ok(q.op, q.name, { value: Deno.env.get(q.name) ?? null });
      }
      case "secrets.get": {
        if (!anyMatch(g.secrets, q.name)) {
          return this.#deny(
            q.op,
            q.name,
            `not granted (grants.secrets: ${JSON.stringify(g.secrets)})`,
          );
        }
        const h = `secret:${crypto.randomUUID()}`;
        this.#secrets.set(h, q.name);
        return this.#ok(q.op, q.name, { secret: h }, undefined, "opaque handle issued");
      }
      case "http.fetch":
        return await this.#fetch(q, payload);
      default:
        return this.#deny((q as { op: string }).op, "(request)", "unknown op", "malformed");
    }
  }

  async #orchestrate(
    q: Extract<BrokerRequest, { op: "orchestration.submit" | "orchestration.await" }>,
  ): Promise<BrokerResponse> {
    const res = q.op === "orchestration.submit" ? q.step : q.ticket;
    if (!this.ctx.grants.orchestration) {
      return this.#deny(q.op, res, "not granted (grants.orchestration: false)");
    }
    const ctl = this.ctx.orchestration;
    if (!ctl) {
      return this.#deny(
        q.op,
        res,
        "only the run's orchestrator plugin (orchestrator: { type: wasm }) can submit or await steps",
        "unsupported",
      );
    }
    try {
      if (q.op === "orchestration.submit") {
        const r = ctl.submit(q.step);
        return this.#ok(q.op, q.step, r, undefined, `ticket ${r.ticket}, ${r.status}`);
      }
      // Never block past the call's deadline: the plugin must get control back to be stopped.
      const left = this.ctx.deadline === undefined
        ? undefined
        : Math.max(0, this.ctx.deadline() - Date.now() + 20);
      const timeoutMs = q.timeout_ms === undefined
        ? left
        : left === undefined
        ? q.timeout_ms
        : Math.min(q.timeout_ms, left);
      const s = await ctl.wait(q.ticket, { timeoutMs, signal: this.ctx.signal });
      return this.#ok(
        q.op,
        s.step,
        { ...s, timed_out: !s.done },
        undefined,
        `ticket ${q.ticket}: ${s.status}${s.done ? "" : " (wait timed out)"}`,
      );
    } catch (e) {
      if (e instanceof SchedulingError) return this.#deny(q.op, res, e.message, e.code);
      throw e;
    }
  }

  async #get(op: string, path: string): Promise<BrokerResponse> {
    const store = this.ctx.stack!.artifactStore;
    if (!(await store.exists(path))) return this.#deny(op, path, "no such artifact", "not_found");
    // Read as a stream, against the quota as the bytes arrive: a hoarding plugin cannot make
    // the kernel hold more than its memory grant in one call.
    const left = this.ctx.grants.memory - this.held.bytes;
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const c of await store.readStream(path)) {
      size += c.length;
      if (size > left) return this.#hold(op, path, size)!;
      chunks.push(c);
    }
    const refused = this.#hold(op, path, size);
    if (refused) return refused;
    const bytes = chunks.length === 1 ? chunks[0] : new Uint8Array(size);
    if (chunks.length !== 1) {
      let o = 0;
      for (const c of chunks) bytes.set(c, (o += c.length) - c.length);
    }
    return this.#ok(op, path, { size }, bytes, `${size} bytes`);
  }

  async #fetch(
    q: Extract<BrokerRequest, { op: "http.fetch" }>,
    payload: Uint8Array,
  ): Promise<BrokerResponse> {
    const g = this.ctx.grants;
    const out = await brokeredFetch(q, payload, {
      grants: g,
      secrets: this.#secrets,
      redactor: this.redactor,
      audit: (op, res, allowed, detail) => this.#audit(op, res, allowed, detail),
      maxBytes: Math.min(g.max_output, g.memory - this.held.bytes),
      timeLeft: () =>
        this.ctx.deadline ? this.ctx.deadline() - Date.now() : Number.POSITIVE_INFINITY,
      signal: this.ctx.signal,
      helper: () => (this.#net ??= NetHelper.spawn(g.net)),
      dropHelper: () => {
        this.#net?.close();
        this.#net = undefined;
      },
    });
    if (out.denied) return this.#deny(q.op, out.resource, out.why, out.code);
    const refused = this.#hold(q.op, out.resource, out.body.length);
    if (refused) return refused;
    const json = this.redactor.empty
      ? out.json
      : JSON.parse(this.redactor.redact(JSON.stringify(out.json)));
    return this.#ok(q.op, out.resource, json, out.body, out.detail);
  }

  /**
   * End of the call: stop its net helper, write pending audit rows (batched, with the
   * summary rows of aggregated events) and the `… dropped` log line.
   */
  async flush(): Promise<void> {
    const net = this.#net;
    this.#net = undefined;
    await net?.dispose();
    await this.trail.flush();
  }
}
