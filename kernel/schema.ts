/**
 * Config schemas. Component config schemas are zod schemas; this file keeps
 * the one place that formats zod's issues as key paths.
 * @module
 */

/** The part of a zod schema the kernel uses. */
export interface SchemaLike {
  safeParse(v: unknown): { success: true; data: unknown } | { success: false; error: unknown };
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
