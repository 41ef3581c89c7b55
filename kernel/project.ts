/**
 * Finding the project: the nearest `flowyml.yaml` in the current folder or a
 * parent, and resolving a stack's relative paths against that file's folder,
 * so a command run from `src/` uses the project's stores, never a fresh
 * `src/.flowyml`.
 * @module
 */
import { dirname, isAbsolute, join, resolve } from "./_path.ts";

/** The config file name looked for in each folder. */
export const CONFIG_FILE = "flowyml.yaml";

/**
 * `node:path`'s `resolve(...parts)`, with the current folder from `Deno.cwd()`:
 * `node:path` asks `node:process` for it, and its first use costs ≈ 5 ms of a
 * cold start (it sets up Node's whole `process` object).
 */
export function absolutePath(...parts: string[]): string {
  return parts.some(isAbsolute) ? resolve(...parts) : resolve(Deno.cwd(), ...parts);
}

/** Whether `path` is a file this process can see (missing or not readable: `false`). */
export function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    // missing, or not readable with this process's permissions: keep looking
    return false;
  }
}

/**
 * The nearest `flowyml.yaml`, looking in `from` (default: the current folder)
 * and then each parent up to the file-system root. Returns `flowyml.yaml`
 * when it is in the current folder, the absolute path when it is in a parent,
 * and `undefined` when there is none.
 */
export function findConfigFile(from?: string): string | undefined {
  let cwd: string;
  try {
    cwd = Deno.cwd();
  } catch {
    return undefined; // no read permission on the current folder: only ./flowyml.yaml is tried
  }
  const found = findUp(resolve(cwd, from ?? "."), [CONFIG_FILE]);
  return found && dirname(found) === cwd ? CONFIG_FILE : found;
}

/**
 * The nearest file named one of `names` (in that order of preference) in the folder `start` or
 * one of its parents, as an absolute path; the search stops before the folder `options.stop`.
 */
export function findUp(
  start: string,
  names: string[],
  options: { stop?: string } = {},
): string | undefined {
  for (let dir = start; dir !== options.stop; dir = dirname(dir)) {
    for (const name of names) {
      const p = join(dir, name);
      if (isFile(p)) return p;
    }
    if (dirname(dir) === dir) return undefined;
  }
  return undefined;
}

/** Option names holding file-system paths: `path`, `dir`, `*_path`, `*Dir`, `dag_folder`, … */
const PATH_KEY =
  /^(?:path|dir|folder|home|file|root)$|[_-](?:path|dir|folder|home|file|root)$|[a-z](?:Path|Dir|Folder|Home|File|Root)$/;

/** A relative path: not absolute, not `~…`, not a URI or `:memory:`, not empty. */
function isRelativePath(v: unknown): v is string {
  return typeof v === "string" && v !== "" && !v.startsWith("/") && !v.startsWith("~") &&
    !v.startsWith(":") && !/^[A-Za-z][\w+.-]*:/.test(v);
}

/**
 * `stack` with every relative path option (see `PATH_KEY`) resolved against
 * the folder of `configFile`. Unchanged when the file is in the current
 * folder, or when there is no file.
 */
export function projectRelative<T extends object>(stack: T, configFile?: string): T {
  const dir = configFile ? dirname(configFile) : ".";
  if (dir === "." || dir === "") return stack;
  const out = { ...stack } as Record<string, unknown>;
  for (const [kind, cc] of Object.entries(stack)) {
    if (!cc || typeof cc !== "object") continue;
    const fixed = { ...cc } as Record<string, unknown>;
    for (const [k, v] of Object.entries(fixed)) {
      if (PATH_KEY.test(k) && isRelativePath(v)) fixed[k] = join(dir, v);
    }
    out[kind] = fixed;
  }
  return out as T;
}

let warned = false;

/**
 * With no `flowyml.yaml` up the tree, the embedded local stack lives in
 * `./.flowyml`. When the current folder has none but a parent has a
 * `.flowyml/metadata.db`, say so once per process (on stderr), so running
 * from a subfolder does not silently start a fresh, empty history.
 */
export function warnStrayProject(): void {
  if (warned) return;
  let cwd: string;
  try {
    cwd = Deno.cwd();
  } catch {
    return;
  }
  if (isFile(join(cwd, ".flowyml", "metadata.db"))) return;
  for (let dir = dirname(cwd); dirname(dir) !== dir; dir = dirname(dir)) {
    if (!isFile(join(dir, ".flowyml", "metadata.db"))) continue;
    warned = true;
    console.warn(
      `note: no ${CONFIG_FILE} here or above, so the local stack uses ${cwd}/.flowyml; ` +
        `${dir}/.flowyml holds another project's runs\n  fix: run from ${dir}, or create ` +
        `${dir}/${CONFIG_FILE} (it may be empty) to make that folder the project root`,
    );
    return;
  }
}
