/**
 * Config schemas. Component config schemas are zod schemas; this file keeps
 * the one place that formats zod's issues as key paths.
 * @module
 */

/** The part of a zod schema the kernel uses. */
export interface SchemaLike {
  /** Validate `v`: the parsed data, or the error describing what is wrong. */
  safeParse(v: unknown): { success: true; data: unknown } | { success: false; error: unknown };
}

/** A zod schema whose parsed output is `T`, as far as callers outside its module need it. */
export interface Schema<T> extends SchemaLike {
  /** Parse `v` (applying defaults and transforms); throws a zod error when it is invalid. */
  parse(v: unknown): T;
  /** Validate `v`: the parsed data, or the error describing what is wrong. */
  safeParse(v: unknown): { success: true; data: T } | { success: false; error: unknown };
}

/** Render zod issues as `key.path: message; …`. */
export function formatZodIssues(error: unknown, prefix = ""): string {
  const issues = (error as { issues?: { path: PropertyKey[]; message: string }[] }).issues ?? [];
  if (!issues.length) return String(error);
  return issues.map((i) => {
    const p = [prefix, ...i.path.map(String)].filter(Boolean).join(".");
    return `${p || "(root)"}: ${i.message}`;
  }).join("; ");
}

/** One option of an {@linkcode objectSchema}. */
export interface FieldSpec {
  /** `string`, or `integer` (a whole number). */
  type: "string" | "integer";
  /** The option may be left out (and has no default). */
  optional?: boolean;
  /** The value used when the option is left out. */
  default?: string | number;
  /** Integers: the smallest value allowed (inclusive). */
  min?: number;
  /** What the option means (shown by `flowyml component show`). */
  description?: string;
}

/** The parsed value of a field. */
type FieldValue<F extends FieldSpec> = F["type"] extends "string" ? string : number;
/** Whether a field may be left out of the input. */
type InputOptional<F extends FieldSpec> = F extends { optional: true } ? true
  : F extends { default: string | number } ? true
  : false;

/** What an {@linkcode objectSchema} accepts: options with a default or `optional` may be left out. */
export type SchemaInput<S extends Record<string, FieldSpec>> =
  & { [K in keyof S as InputOptional<S[K]> extends true ? K : never]?: FieldValue<S[K]> }
  & { [K in keyof S as InputOptional<S[K]> extends true ? never : K]: FieldValue<S[K]> };

/** What an {@linkcode objectSchema} gives back: defaults filled in. */
export type SchemaOutput<S extends Record<string, FieldSpec>> =
  & { [K in keyof S as S[K] extends { optional: true } ? K : never]?: FieldValue<S[K]> }
  & { [K in keyof S as S[K] extends { optional: true } ? never : K]: FieldValue<S[K]> };

/** An {@linkcode objectSchema}: validates like a strict zod object, renders as JSON Schema. */
export interface ObjectSchema<S extends Record<string, FieldSpec>> extends Schema<SchemaOutput<S>> {
  /** The field specs. */
  readonly fields: S;
  /** The schema as JSON Schema (what `z.toJSONSchema(…, { io: "input" })` gives for zod). */
  toJSONSchema(): Record<string, unknown>;
}

/** zod's name of a value's type. */
function received(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number" && !Number.isFinite(v)) return Number.isNaN(v) ? "NaN" : "Infinity";
  return typeof v;
}

/** The problem with one field's value, in zod's words, if any. */
function fieldIssue(f: FieldSpec, v: unknown): string | undefined {
  const want = f.type === "string" ? "string" : "number";
  if (typeof v !== want || (want === "number" && !Number.isFinite(v))) {
    return `Invalid input: expected ${want}, received ${received(v)}`;
  }
  if (f.type === "integer" && !Number.isInteger(v)) {
    return "Invalid input: expected int, received number";
  }
  if (f.min !== undefined && (v as number) < f.min) {
    return f.min === 1
      ? "Too small: expected number to be >0"
      : `Too small: expected number to be >=${f.min}`;
  }
}

/**
 * A strict object schema for small component configs, without zod: `import
 * "flowyml"` loads no zod, and the local stack's configs validate with it.
 * Messages and JSON Schema follow zod's.
 *
 * ```ts
 * import { objectSchema } from "./schema.ts";
 *
 * const schema = objectSchema({
 *   path: { type: "string", default: ".data", description: "folder" },
 *   workers: { type: "integer", min: 1, optional: true },
 * });
 * schema.parse({ workers: 2 }); // { path: ".data", workers: 2 }
 * ```
 */
export function objectSchema<const S extends Record<string, FieldSpec>>(
  fields: S,
): ObjectSchema<S> {
  const safeParse = (v: unknown) => {
    const issues: { path: PropertyKey[]; message: string }[] = [];
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      issues.push({ path: [], message: `Invalid input: expected object, received ${received(v)}` });
      return { success: false as const, error: { issues } };
    }
    const given = v as Record<string, unknown>;
    const data: Record<string, unknown> = {};
    for (const [k, f] of Object.entries(fields)) {
      if (given[k] === undefined) {
        if (f.default !== undefined) data[k] = f.default;
        else if (!f.optional) issues.push({ path: [k], message: fieldIssue(f, undefined)! });
        continue;
      }
      const problem = fieldIssue(f, given[k]);
      if (problem) issues.push({ path: [k], message: problem });
      else data[k] = given[k];
    }
    const extra = Object.keys(given).filter((k) => !(k in fields));
    if (extra.length) {
      const keys = extra.map((k) => `"${k}"`).join(", ");
      issues.push({ path: [], message: `Unrecognized key${extra.length > 1 ? "s" : ""}: ${keys}` });
    }
    return issues.length
      ? { success: false as const, error: { issues } }
      : { success: true as const, data: data as SchemaOutput<S> };
  };
  return {
    fields,
    safeParse,
    parse(v: unknown): SchemaOutput<S> {
      const r = safeParse(v);
      if (!r.success) throw new TypeError(formatZodIssues(r.error));
      return r.data;
    },
    toJSONSchema: () => jsonSchemaOf(fields),
  };
}

/** JSON Schema of an {@linkcode objectSchema}'s fields, shaped as zod renders a strict object. */
function jsonSchemaOf(fields: Record<string, FieldSpec>): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  for (const [k, f] of Object.entries(fields)) {
    const p: Record<string, unknown> = {};
    if (f.default !== undefined) p.default = f.default;
    if (f.description) p.description = f.description;
    p.type = f.type;
    if (f.type === "integer") {
      if (f.min === 1) p.exclusiveMinimum = 0;
      else if (f.min !== undefined) p.minimum = f.min;
      p.maximum = Number.MAX_SAFE_INTEGER;
    }
    properties[k] = p;
  }
  const required = Object.entries(fields).filter(([, f]) => !f.optional && f.default === undefined)
    .map(([k]) => k);
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    type: "object",
    properties,
    ...(required.length ? { required } : {}),
    additionalProperties: false,
  };
}
