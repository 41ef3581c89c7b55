/**
 * The shape of a broker op: its request schema, the grant check it applies
 * and its handler, plus what the broker lends a handler ({@linkcode OpEnv}).
 * The broker (broker.ts) is a dispatcher over the table of these (table.ts):
 * parse the envelope → look up the op → validate its fields → check the grant
 * → call the handler → audit the outcome.
 * @module
 */
import { z } from "zod";
import type { StackLike } from "../../contracts.ts";
import type { RunControl } from "../../scheduling.ts";
import type { AuditLimits, AuditTrail } from "../broker_audit.ts";
import type { Grants } from "../grants.ts";
import type { NetHelper } from "../net_helper.ts";
import type { ErrorCode } from "../protocol.ts";
import type { Redactor } from "../redact.ts";

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
  /** Caps of the call's audit rows and log lines (default `AUDIT_LIMITS`). */
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

/** A refused request: audited as denied, answered `{ok: false, error: {code, message}}`. */
export interface Denial {
  /** What the audit row names (a path, a key, a host …). */
  resource: string;
  /** Why, after `<op> <resource>: ` in the message. */
  why: string;
  /** Default `denied`. */
  code?: ErrorCode;
}

/** A served request: audited as allowed, answered `{ok: true, ...json}`. */
export interface Granted {
  /** What the audit row names. */
  resource: string;
  /** Fields of the answer besides `ok`. */
  json?: Record<string, unknown>;
  /** Bytes handed back as a read handle. */
  payload?: Uint8Array;
  /** Detail of the audit row. */
  detail?: string;
}

/** What a handler returns. */
export type Outcome = Granted | Denial;

/** True when `o` is a {@linkcode Denial}. */
export function isDenial(o: Outcome): o is Denial {
  return "why" in o;
}

/** What the broker lends an op for one call. */
export interface OpEnv {
  readonly ctx: BrokerContext;
  /** The call's audit rows and log lines. */
  readonly trail: AuditTrail;
  /** Redacts the values of the secrets this call may use. */
  readonly redactor: Redactor;
  /** Secret handle → secret name, issued by `secrets.get`. */
  readonly secrets: Map<string, string>;
  /** Host-side handle bytes and count pulled in during this call (quota: grants.memory). */
  readonly held: { bytes: number; count: number };
  /** Counts `bytes` in a new host-side handle against the call's quota; a denial if over. */
  hold(resource: string, bytes: number): Denial | undefined;
  /** Audits an event besides the request's own row (e.g. a redirect hop). */
  audit(op: string, resource: string, allowed: boolean, detail?: string): void;
  /** The call's net helper, spawned on first use. */
  netHelper(): NetHelper;
  /** Drop the call's net helper (it was killed). */
  dropNetHelper(): void;
}

/** A request's fields after validation, with its `op`. */
export type Request<S extends z.ZodObject> = z.output<S> & { op: string };

/** One op of the protocol. */
export interface Op<S extends z.ZodObject = z.ZodObject> {
  /** The `op` of the request, e.g. `artifacts.get`. */
  readonly name: string;
  /** The request's fields besides `v` and `op` (documented in docs/protocol.md). */
  readonly schema: S;
  /**
   * The grant it is checked against: a key of `grants:` (`artifacts.read`, `metadata`, `net` …)
   * or `always`. Documentation, checked against docs/protocol.md.
   */
  readonly grant: string;
  /** Refuses the request when the plugin's grants do not allow it. */
  check?(q: Request<S>, env: OpEnv): Denial | undefined;
  /** Serves a request that passed the check. */
  handle(q: Request<S>, env: OpEnv, payload: Uint8Array): Outcome | Promise<Outcome>;
}

/** A required string field. Reuse it: the broker checks these by hand on the hot path. */
export const str: z.ZodString = z.string();
/** An optional string field (checked by hand on the hot path). */
export const optStr: z.ZodOptional<z.ZodString> = str.optional();
/** A handle number (positive integer; checked by hand on the hot path). */
export const handleId: z.ZodNumber = z.number().int().positive();

/** Declares an op (typed by its schema; the table holds them untyped). */
export function defineOp<S extends z.ZodObject>(op: Op<S>): Op {
  return op as unknown as Op;
}
