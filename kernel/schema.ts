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
