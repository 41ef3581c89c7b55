/**
 * Least-privilege Deno permissions: merge the {@linkcode PermissionNeeds}
 * that stack components (and the CLI) declare into `deno run` flags or a
 * deno.json permission set, and read Deno's `NotCapable` messages back.
 *
 * Pure functions: nothing here touches the file system or the network.
 *
 * ```ts
 * import { mergeNeeds, toDenoFlags } from "./permissions.ts";
 * const needs = mergeNeeds([{ read: [".flowyml/artifacts"] }, { read: ["./.flowyml/artifacts/"] }]);
 * console.log(toDenoFlags(needs)); // ["--allow-read=.flowyml/artifacts"]
 * ```
 * @module
 */
import type { PermissionNeeds } from "./component.ts";

/** A Deno permission kind, as in `--allow-<kind>`. */
export type PermissionKind = keyof PermissionNeeds;

/** Every permission kind, in flag order. */
export const PERMISSION_KINDS: readonly PermissionKind[] = [
  "read",
  "write",
  "net",
  "env",
  "run",
  "import",
  "sys",
  "ffi",
];

/** A merged, sorted, de-duplicated set of needs: every kind present. `"*"` means all. */
export type MergedNeeds = Record<PermissionKind, string[]>;

const PATH_KINDS = new Set<PermissionKind>(["read", "write", "ffi"]);

/** Normalize a path resource: drop `./` and trailing slashes (`"./a/"` → `"a"`). */
export function normalizePath(path: string): string {
  if (path === "*" || path === "") return path;
  let p = path.replace(/\/+$/, "");
  while (p.startsWith("./")) p = p.slice(2);
  return p === "" ? "." : p;
}

function covers(parent: string, child: string): boolean {
  if (parent === "*") return true;
  if (parent === child) return true;
  if (parent === ".") return !child.startsWith("/") && !child.startsWith("..");
  return child.startsWith(parent.endsWith("/") ? parent : `${parent}/`);
}

/**
 * Merge several needs into one set: paths normalized, duplicates and paths
 * under another listed path dropped, `"*"` absorbing the rest of its kind.
 */
export function mergeNeeds(list: PermissionNeeds[]): MergedNeeds {
  const out = Object.fromEntries(PERMISSION_KINDS.map((k) => [k, [] as string[]])) as MergedNeeds;
  for (const kind of PERMISSION_KINDS) {
    const all = new Set<string>();
    for (const n of list) {
      for (const r of n[kind] ?? []) {
        if (typeof r !== "string" || r === "") continue;
        all.add(PATH_KINDS.has(kind) ? normalizePath(r) : r);
      }
    }
    if (all.has("*")) {
      out[kind] = ["*"];
      continue;
    }
    let items = [...all].sort();
    if (PATH_KINDS.has(kind)) {
      items = items.filter((p) => !items.some((q) => q !== p && covers(q, p)));
    }
    out[kind] = items;
  }
  return out;
}

/** The flag granting `kind` on `resource`: `permissionFlag("env", "HOME")` → `--allow-env=HOME`. */
export function permissionFlag(kind: PermissionKind, resource?: string): string {
  return resource && resource !== "*" ? `--allow-${kind}=${resource}` : `--allow-${kind}`;
}

/**
 * `deno run` flags for merged needs, in a stable order. A kind with no
 * resource gets no flag (denied). Throws on a resource containing a comma,
 * which Deno's flag syntax cannot express.
 */
export function toDenoFlags(needs: MergedNeeds, options: { noPrompt?: boolean } = {}): string[] {
  const flags: string[] = [];
  for (const kind of PERMISSION_KINDS) {
    const items = needs[kind] ?? [];
    if (!items.length) continue;
    const bad = items.find((r) => r.includes(","));
    if (bad) {
      throw new Error(`cannot express ${kind} access to "${bad}" as a flag: it contains a comma`);
    }
    flags.push(items.includes("*") ? `--allow-${kind}` : `--allow-${kind}=${items.join(",")}`);
  }
  if (options.noPrompt) flags.push("--no-prompt");
  return flags;
}

/**
 * The deno.json `"permissions"` form of merged needs (use with
 * `deno run -P=<name>`): `{ read: [...], env: [...] }`; an all-access kind is `true`.
 */
export function toPermissionSet(needs: MergedNeeds): Record<string, string[] | true> {
  const out: Record<string, string[] | true> = {};
  for (const kind of PERMISSION_KINDS) {
    const items = needs[kind] ?? [];
    if (items.length) out[kind] = items.includes("*") ? true : [...items];
  }
  return out;
}

/** `host[:port]` of an `http(s):` specifier as `--allow-import`/`--allow-net` want it; else undefined. */
export function importHostOf(specifier: string): string | undefined {
  if (!/^https?:/.test(specifier)) return undefined;
  const u = new URL(specifier);
  return u.port ? `${u.hostname}:${u.port}` : u.hostname;
}

/** Whether `needs` already grant `kind` on `resource` (paths: a listed parent folder counts). */
export function grants(needs: MergedNeeds, kind: PermissionKind, resource: string): boolean {
  const items = needs[kind] ?? [];
  if (items.includes("*")) return true;
  if (PATH_KINDS.has(kind)) return items.some((p) => covers(p, normalizePath(resource)));
  if (kind === "net" || kind === "import") {
    const host = resource.replace(/:\d+$/, "");
    return items.includes(resource) || items.includes(host);
  }
  return items.includes(resource);
}

/** What a Deno permission error asked for. */
export interface RefusedAccess {
  kind: PermissionKind;
  /** The resource: a path, `host:port`, variable or command; `""` when Deno did not say. */
  resource: string;
  /** The exact flag that grants it. */
  flag: string;
}

/** True for the errors Deno throws when a permission flag is missing. */
export function isPermissionError(err: unknown): boolean {
  return err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied;
}

/**
 * The first Deno permission error in `err` or its `cause` chain (10 deep at most), with the
 * access it was refused; `undefined` when there is none, or its message does not say.
 */
export function permissionCause(err: unknown): { error: Error; access: RefusedAccess } | undefined {
  let e: unknown = err;
  for (let i = 0; e && i < 10 && !isPermissionError(e); i++) e = (e as { cause?: unknown }).cause;
  if (!e || !isPermissionError(e)) return undefined;
  const access = parsePermissionMessage((e as Error).message);
  return access ? { error: e as Error, access } : undefined;
}

/**
 * Read a Deno `NotCapable`/`PermissionDenied` message:
 * `Requires env access to "TOKEN", run again with the --allow-env flag`.
 */
export function parsePermissionMessage(message: string): RefusedAccess | undefined {
  const m = /Requires (\w+) access(?: to "?([^",]+)"?)?/.exec(message);
  if (!m) return undefined;
  const kind = m[1] as PermissionKind;
  if (!PERMISSION_KINDS.includes(kind)) return undefined;
  const resource = m[2] ?? "";
  return { kind, resource, flag: permissionFlag(kind, resource) };
}

const UNRETRYABLE = [
  /Requires \w+ access\b.*--allow-\w+/, // Deno's own message
  /\(Deno flag --allow-\w+/, // flowyml's explanation (flowyml run, flowyml worker)
  /was refused: Deno permission missing/, // MissingPermissionError
  /lockfile is out of date/, // a frozen lockfile refusing an unpinned module
];

/**
 * True when `err` (or one of its causes) can only fail the same way again: a
 * missing Deno permission (also as the message of an error from another
 * process) or a module the frozen lockfile refuses. Such step failures are
 * never retried.
 */
export function isUnretryable(err: unknown): boolean {
  let e: unknown = err;
  for (let i = 0; e && i < 10; i++) {
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      return true;
    }
    const msg = e instanceof Error ? e.message : typeof e === "string" ? e : "";
    if (UNRETRYABLE.some((re) => re.test(msg))) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}
