/**
 * Config keys a component takes, for components without a `configSchema`:
 * so a misspelt key in `flowyml.yaml` is still reported. Known keys are the
 * union of
 *
 * 1. the keys its constructor reads from its options: destructured
 *    (`constructor({ bucket = "x" } = {})`) or through the parameter
 *    (`options.bucket`, `options?.bucket`, `options["bucket"]`), in the class
 *    and every class it extends up to the contract;
 * 2. the fields of the built instance (`this.bucket = …`);
 * 3. the keys of its `toDict()`;
 * 4. `name`, which every component takes.
 *
 * Keys are compared ignoring case, `_` and `-`, so `dag_folder` matches a
 * `dagFolder` field. The result is a warning, never an error: a key the
 * heuristics miss still reaches the constructor.
 * @module
 */
import type { StackComponent } from "./component.ts";

function normalize(k: string): string {
  return k.toLowerCase().replace(/[_-]/g, "");
}

/** The text of a class's constructor parameter list and body, if it declares one. */
function constructorSource(
  cls: { toString(): string },
): { params: string; body: string } | undefined {
  const src = Function.prototype.toString.call(cls);
  const at = src.search(/\bconstructor\s*\(/);
  if (at < 0) return undefined;
  let i = src.indexOf("(", at);
  const start = i + 1;
  for (let depth = 0; i < src.length; i++) {
    if (src[i] === "(") depth++;
    else if (src[i] === ")" && --depth === 0) break;
  }
  return { params: src.slice(start, i), body: src.slice(i) };
}

/** Top-level keys of a destructuring pattern `{ a = 1, b: alias, c }`. */
function destructuredKeys(pattern: string): string[] {
  const inner = pattern.slice(pattern.indexOf("{") + 1);
  const keys: string[] = [];
  let depth = 0;
  let token = "";
  let expectKey = true;
  for (const ch of inner) {
    if ("{[(".includes(ch)) depth++;
    else if ("}])".includes(ch)) {
      if (depth === 0) break;
      depth--;
    } else if (depth === 0 && ch === ",") {
      expectKey = true;
      token = "";
      continue;
    }
    if (depth === 0 && expectKey) {
      if (/[\w$]/.test(ch)) token += ch;
      else if (token && /[\s=:]/.test(ch)) {
        keys.push(token);
        expectKey = false;
      }
    }
  }
  if (expectKey && token) keys.push(token);
  return keys;
}

/** The parameter list and body of a plain function (`create(config) {…}`, `(c) => …`, `c => …`). */
function functionSource(fn: { toString(): string }): { params: string; body: string } {
  const src = Function.prototype.toString.call(fn);
  const bare = /^\s*(?:async\s+)?([A-Za-z_$][\w$]*)\s*=>/.exec(src);
  if (bare) return { params: bare[1], body: src.slice(bare[0].length) };
  let i = src.indexOf("(");
  const start = i + 1;
  for (let depth = 0; i >= 0 && i < src.length; i++) {
    if (src[i] === "(") depth++;
    else if (src[i] === ")" && --depth === 0) break;
  }
  return { params: src.slice(start, i), body: src.slice(i) };
}

/**
 * Keys the constructors of `cls` and its superclasses read from their
 * options; for a plain function (a factory's `create`), the keys it reads
 * from its first parameter.
 */
function constructorKeys(cls: unknown): string[] {
  const keys: string[] = [];
  const isClass = typeof cls === "function" &&
    /^class\b/.test(Function.prototype.toString.call(cls));
  for (
    let c = cls as { toString(): string } | null;
    c && c !== Function.prototype && !Object.hasOwn(c, "kind");
    c = isClass ? Object.getPrototypeOf(c) : null
  ) {
    const src = isClass ? constructorSource(c) : functionSource(c);
    if (!src) continue;
    const p = src.params.trim();
    if (p.startsWith("{")) keys.push(...destructuredKeys(p));
    const param = /^([A-Za-z_$][\w$]*)/.exec(p)?.[1];
    if (param) {
      const re = new RegExp(
        `\\b${param}\\??\\.(?:\\s*)([A-Za-z_$][\\w$]*)|\\b${param}\\??\\.?\\[\\s*["'\`]([^"'\`]+)["'\`]\\s*\\]`,
        "g",
      );
      for (const m of src.body.matchAll(re)) keys.push(m[1] ?? m[2]);
      const destr = new RegExp(`(?:const|let|var)\\s*(\\{[^=]*\\})\\s*=\\s*${param}\\b`, "g");
      for (const m of src.body.matchAll(destr)) keys.push(...destructuredKeys(m[1]));
    }
  }
  return keys;
}

/** The option names a component class is known to take (see the module doc). */
export function knownOptions(cls: unknown, instance?: Partial<StackComponent>): string[] {
  const keys = new Set<string>(["name", ...constructorKeys(cls)]);
  if (instance) {
    for (const [k, v] of Object.entries(instance)) {
      if (!k.startsWith("_") && typeof v !== "function") keys.add(k);
    }
    try {
      const dict = typeof instance.toDict === "function" ? instance.toDict() : {};
      for (const k of Object.keys(dict ?? {})) if (k !== "type") keys.add(k);
    } catch {
      // toDict() failing is reported where it is used
    }
  }
  return [...keys];
}

/** The keys of `config` that are none of `known` (compared ignoring case, `_` and `-`). */
export function unknownOptions(config: Record<string, unknown>, known: string[]): string[] {
  const norm = new Set(known.map(normalize));
  return Object.keys(config).filter((k) => k !== "type" && !norm.has(normalize(k)));
}

/** The warning for config keys a schemaless component does not know, naming its known options. */
export function unknownKeyWarning(o: {
  kind: string;
  type: string;
  where?: string;
  unknown: string[];
  known: string[];
}): string {
  const keys = o.unknown.map((k) => `"${k}"`).join(", ");
  return `warning: ${o.where ? `${o.where}: ` : ""}unknown option${
    o.unknown.length > 1 ? "s" : ""
  } ${keys} for ${o.kind} "${o.type}" (it declares no configSchema, so nothing checks its ` +
    `options); its known options: ${o.known.join(", ")}\n  fix: correct or remove ${keys}; ` +
    `the component's author can add a configSchema to make this an error`;
}
