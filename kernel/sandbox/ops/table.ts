/**
 * The op table: every request a plugin can send, one entry per op (its
 * schema, grant check and handler live in the capability's module), and the
 * validation of a parsed request against it.
 * @module
 */
import type { z } from "zod";
import { formatZodIssues } from "../../schema.ts";
import { PROTOCOL_VERSION } from "../protocol.ts";
import { artifactsExists, artifactsGet, artifactsList, artifactsPut } from "./artifacts.ts";
import { configGet, envGet, secretsGet } from "./config.ts";
import { httpFetch } from "./http.ts";
import { log } from "./log.ts";
import { metadataLog, metadataRun } from "./metadata.ts";
import { orchestrationAwait, orchestrationStatus, orchestrationSubmit } from "./orchestration.ts";
import { registryResolve } from "./registry.ts";
import { handleId, type Op, optStr, str } from "./types.ts";

/** Every op, in the order error messages list them. */
export const OPS: readonly Op[] = [
  artifactsGet,
  artifactsPut,
  artifactsExists,
  artifactsList,
  metadataLog,
  metadataRun,
  registryResolve,
  orchestrationStatus,
  orchestrationSubmit,
  orchestrationAwait,
  log,
  configGet,
  envGet,
  secretsGet,
  httpFetch,
];

type FieldCheck = "s" | "s?" | "h";

/**
 * Ops whose fields are all plain strings or handles are checked by hand on the hot path
 * (field → check); anything these checks do not accept goes through the op's schema, which
 * refuses it with a message.
 */
function fastChecks(schema: z.ZodObject): [string, FieldCheck][] | undefined {
  const out: [string, FieldCheck][] = [];
  for (const [k, f] of Object.entries(schema.shape)) {
    const t = f === str ? "s" : f === optStr ? "s?" : f === handleId ? "h" : undefined;
    if (!t) return undefined;
    out.push([k, t]);
  }
  return out;
}

interface Entry {
  op: Op;
  fast?: [string, FieldCheck][];
}

const TABLE = new Map<string, Entry>(
  OPS.map((op) => [op.name, { op, fast: fastChecks(op.schema) }]),
);

const UNKNOWN_OP = `op: Invalid discriminator value. Expected ${
  OPS.map((o) => `'${o.name}'`).join(" | ")
}`;

/** `o`'s fields if they pass `checks`, else undefined. */
function fastParse(
  o: Record<string, unknown>,
  checks: [string, FieldCheck][],
): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = { op: o.op };
  for (const [k, t] of checks) {
    const x = o[k];
    if (t === "s?" && x === undefined) continue;
    if (t === "h" ? !(Number.isInteger(x) && (x as number) > 0) : typeof x !== "string") {
      return undefined;
    }
    out[k] = x;
  }
  return out;
}

/** A request that passed validation: its op and fields (with `op`). */
export interface Validated {
  op: Op;
  q: Record<string, unknown> & { op: string };
}

/**
 * Validate a parsed request: the envelope (`v`, a known `op`), then the op's fields.
 * Returns why it is malformed otherwise.
 */
export function validateRequest(parsed: unknown): Validated | { malformed: string } {
  const o = (typeof parsed === "object" && parsed !== null ? parsed : {}) as Record<
    string,
    unknown
  >;
  if (o.v !== PROTOCOL_VERSION || Array.isArray(parsed)) {
    return {
      malformed: `protocol version ${
        JSON.stringify(o.v)
      } is not supported (this kernel speaks v${PROTOCOL_VERSION})`,
    };
  }
  const e = typeof o.op === "string" ? TABLE.get(o.op) : undefined;
  if (!e) return { malformed: UNKNOWN_OP };
  const fast = e.fast && fastParse(o, e.fast);
  if (fast) return { op: e.op, q: fast as Validated["q"] };
  const r = e.op.schema.safeParse(parsed);
  if (!r.success) return { malformed: formatZodIssues(r.error) };
  return { op: e.op, q: { ...r.data, op: e.op.name } };
}
