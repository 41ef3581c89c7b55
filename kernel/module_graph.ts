/**
 * The import scanner shared by flowyml's module-graph walkers (plugin
 * integrity in kernel/integrity.ts, step code identity in
 * kernel/code_identity.ts): the specifiers a JS/TS source imports, and how a
 * relative or absolute one resolves against its importer.
 * @module
 */

const IMPORT_RE = new RegExp(
  [
    String.raw`\bimport\s+(?:type\s+)?[^'"\`;]*?\bfrom\s*(['"])([^'"\n]+)\1`,
    String.raw`\bexport\s+(?:type\s+)?[^'"\`;]*?\bfrom\s*(['"])([^'"\n]+)\3`,
    String.raw`\bimport\s*(['"])([^'"\n]+)\5`,
    String.raw`\bimport\s*\(\s*(['"])([^'"\n]+)\7\s*[,)]`,
  ].join("|"),
  "g",
);

/** Static (and string-literal dynamic) import specifiers of a JS/TS source. */
export function importSpecifiers(source: string): string[] {
  const text = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const out = new Set<string>();
  for (const m of text.matchAll(IMPORT_RE)) out.add(m[2] ?? m[4] ?? m[6] ?? m[8]);
  return [...out];
}

/** Resolve an import against its importer; `undefined` for bare, `npm:`, `jsr:`, `node:` specifiers. */
export function resolveImport(spec: string, importer: string): string | undefined {
  if (/^(\.{1,2})?\//.test(spec)) {
    const u = new URL(spec, importer);
    // Deno forbids remote modules importing local files; so do we.
    if (u.protocol === "file:" && !importer.startsWith("file:")) return undefined;
    return u.href;
  }
  if (/^(https?|file):/.test(spec)) return spec;
  return undefined;
}
