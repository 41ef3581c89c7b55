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
import { describeError } from "../errors.ts";
import type { AuditEvent } from "../records.ts";
import type { BrokerResponse, ErrorCode } from "./protocol.ts";
import { AuditTrail } from "./broker_audit.ts";
import { NetHelper } from "./net_helper.ts";
import { Redactor } from "./redact.ts";
import { validateRequest } from "./ops/table.ts";
import {
  type BrokerContext,
  type Denial,
  isDenial,
  type OpEnv,
  type Outcome,
} from "./ops/types.ts";

export type { BrokerContext } from "./ops/types.ts";

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
  readonly held = { bytes: 0, count: 0 };
  #net?: NetHelper;
  /** What the ops are lent (ops/types.ts). */
  #env: OpEnv;

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
    this.#env = this.#lend();
  }

  #lend(): OpEnv {
    return {
      ctx: this.ctx,
      trail: this.trail,
      redactor: this.redactor,
      secrets: new Map(),
      held: this.held,
      hold: (resource, bytes) => this.#hold(resource, bytes),
      audit: (op, resource, allowed, detail) => this.#audit(op, resource, allowed, detail),
      netHelper: () => (this.#net ??= NetHelper.spawn(this.ctx.grants.net)),
      dropNetHelper: () => {
        this.#net?.close();
        this.#net = undefined;
      },
    };
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

  #deny(op: string, d: Denial): BrokerResponse {
    this.#audit(op, d.resource, false, d.why);
    const message = this.clean(`${op} ${d.resource}: ${d.why}`);
    this.lastDenial = message;
    return { json: { ok: false, error: { code: d.code ?? "denied", message } } };
  }

  #fatal(op: string, code: ErrorCode, why: string): BrokerResponse {
    this.#audit(op, "(request)", false, `${code}: ${why}`);
    return { json: { error: { code, message: this.clean(why) } }, fatal: true };
  }

  /** Counts `bytes` in a new host-side handle against the call's quota; a denial if over. */
  #hold(resource: string, bytes: number): Denial | undefined {
    const quota = this.ctx.grants.memory;
    const max = this.ctx.maxHandles ?? 1024;
    if (this.held.count + 1 > max) {
      return { resource, why: `more than ${max} handles pulled in by one call`, code: "oversized" };
    }
    if (this.held.bytes + bytes > quota) {
      return {
        resource,
        why: `${bytes} more bytes would hold ${this.held.bytes + bytes} bytes of host-side ` +
          `handles in this call, over the plugin's memory grant of ${quota} bytes (grants.memory)`,
        code: "oversized",
      };
    }
    this.held.count++;
    this.held.bytes += bytes;
    return undefined;
  }

  /** Audit an outcome and answer it. */
  #answer(op: string, o: Outcome): BrokerResponse {
    if (isDenial(o)) return this.#deny(op, o);
    this.#audit(op, o.resource, true, o.detail);
    const json = o.json ? { ok: true, ...o.json } : { ok: true };
    return o.payload ? { json, payload: o.payload } : { json };
  }

  /**
   * Handle one raw request: parse the envelope, look up the op, validate its fields, check
   * the grant, call the handler, audit the outcome.
   */
  handle = async (raw: Uint8Array, payload: Uint8Array): Promise<BrokerResponse> => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(dec.decode(raw));
    } catch {
      return this.#fatal(
        "protocol",
        "malformed",
        `request is not valid JSON (${raw.length} bytes)`,
      );
    }
    const op0 = (parsed as { op?: unknown })?.op;
    if (op0 === "__oversized") {
      const size = (parsed as { size?: number }).size;
      return this.#fatal("protocol", "oversized", `request of ${size} bytes exceeds max_message`);
    }
    const r = validateRequest(parsed);
    if ("malformed" in r) {
      return this.#fatal(
        typeof op0 === "string" ? op0.slice(0, 64) : "protocol",
        "malformed",
        r.malformed,
      );
    }
    const { op, q } = r;
    try {
      const refused = op.check?.(q, this.#env);
      if (refused) return this.#deny(q.op, refused);
      const out = op.handle(q, this.#env, payload);
      return this.#answer(q.op, out instanceof Promise ? await out : out);
    } catch (err) {
      this.#audit(q.op, "(error)", true, `failed: ${describeError(err)}`);
      return {
        json: { ok: false, error: { code: "failed", message: this.clean(describeError(err)) } },
      };
    }
  };

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
