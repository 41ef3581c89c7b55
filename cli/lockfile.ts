/**
 * `flowyml.lock`: the trusted component modules loaded with
 * `flowyml component load`, so later commands still see them, each pinned
 * to the integrity of the module graph it loaded (see docs/plugins.md).
 * @module
 */
import { dirname, resolve } from "node:path";
import type { FlowymlConfig } from "../kernel/config.ts";
import { ComponentError, describeError } from "../kernel/errors.ts";
import { getComponentRegistry, toSpecifier } from "../kernel/registry.ts";
import * as flowyml from "../mod.ts";
import { changedModules, type GraphIntegrity, hashModuleGraph, type NpmPin } from "./integrity.ts";

// npm packages cannot import the host's copy of flowyml: a plugin module may
// export `components(flowyml)`, which receives flowyml's public API.
getComponentRegistry().setPluginApi({ ...flowyml });

/** One loaded module in the lockfile. */
export interface LockedComponent {
  /** As given to `component load` (relative paths are relative to the lockfile). */
  source: string;
  /** Registered components: kind and type. */
  entries: { kind: string; type: string; version?: string }[];
  /** Name override given at load time. */
  name?: string;
  loadedAt: string;
  /** When `component update` last accepted new content. */
  updatedAt?: string;
  /** Where it came from: file, url, jsr, npm. */
  origin?: string;
  /** Integrity of the loaded module graph: `sha256-<hex>` (npm: the registry's `sha512-…`). */
  integrity?: string;
  /** Every module of the graph → sha256 hex (remote by URL, local files relative to the root). */
  modules?: Record<string, string>;
  /** For an `npm:` package: its Deno lockfile entry (name@version, registry integrity, dependencies). */
  npm?: NpmPin;
}

/** The lockfile's content. */
export interface Lockfile {
  version: 1;
  components: LockedComponent[];
}

/** Path of the lockfile: beside `flowyml.yaml`. */
export function lockfilePath(config?: FlowymlConfig): string {
  return resolve(config?.path ? dirname(config.path) : ".", "flowyml.lock");
}

/** Read the lockfile (empty when missing). */
export async function readLockfile(path: string): Promise<Lockfile> {
  try {
    const data = JSON.parse(await Deno.readTextFile(path));
    if (data?.version !== 1 || !Array.isArray(data.components)) {
      throw new ComponentError(`${path} is not a flowyml lockfile`, {
        hint: "delete it and load components again",
      });
    }
    return data;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return { version: 1, components: [] };
    if (err instanceof SyntaxError) {
      throw new ComponentError(`${path} is not valid JSON: ${err.message}`, {
        hint: "delete it and load components again",
      });
    }
    throw err;
  }
}

/** Write the lockfile atomically. */
export async function writeLockfile(path: string, lock: Lockfile): Promise<void> {
  // The temp file lives in .flowyml/, so `--allow-write=.flowyml,flowyml.lock` suffices.
  const state = resolve(dirname(path), ".flowyml");
  await Deno.mkdir(state, { recursive: true });
  const tmp = `${state}/flowyml.lock.tmp-${crypto.randomUUID()}`;
  await Deno.writeTextFile(tmp, JSON.stringify(lock, null, 2) + "\n");
  await Deno.rename(tmp, path);
}

/** Resolve a locked source relative to the lockfile's folder. */
export function lockedSpecifier(lockPath: string, source: string): string {
  if (/^(jsr:|npm:|https?:|file:|data:)/.test(source) || source.startsWith("/")) return source;
  const [file, cls] = source.split(/:(?=[A-Za-z_$][\w$]*$)/);
  const abs = resolve(dirname(lockPath), file);
  return cls ? `${abs}:${cls}` : abs;
}

/** The module URL of a locked source (without any `:ClassName`). */
export function sourceModule(lockPath: string, source: string): string {
  const spec = lockedSpecifier(lockPath, source);
  const m = /^(.*\.(?:ts|js|mjs|tsx|jsx)):[A-Za-z_$][\w$]*$/.exec(spec);
  return toSpecifier(m ? m[1] : spec);
}

/** A locked module whose content is no longer what was pinned. */
export class IntegrityError extends ComponentError {
  /** Pinned integrity. */
  readonly expected: string;
  /** Integrity of the content now served. */
  readonly actual: string;
  constructor(rec: LockedComponent, now: GraphIntegrity, lockPath: string) {
    const changed = changedModules(rec.modules ?? {}, now.modules);
    const name = rec.entries[0]?.type ?? rec.source;
    super(
      `refusing to load ${rec.source}: its content changed since it was pinned in ${lockPath}\n` +
        `  pinned:  ${rec.integrity}\n  now:     ${now.integrity}` +
        (changed.length ? `\n  changed: ${changed.join(", ")}` : ""),
      {
        hint:
          `if you trust the new content, accept it with \`flowyml component update ${name}\`; ` +
          `otherwise find out who changed the module`,
      },
    );
    this.name = "IntegrityError";
    this.expected = rec.integrity ?? "";
    this.actual = now.integrity;
  }
}

/** Find a locked module by its source or by the name of a component it registered. */
export function findLocked(lock: Lockfile, nameOrSource: string): LockedComponent | undefined {
  return lock.components.find((c) => c.source === nameOrSource) ??
    lock.components.find((c) =>
      c.name === nameOrSource || c.entries.some((e) => e.type === nameOrSource)
    );
}

/** Hash a locked module's graph now and refuse it if it no longer matches the pin. */
export async function verifyLocked(
  lockPath: string,
  rec: LockedComponent,
): Promise<GraphIntegrity> {
  const now = await hashModuleGraph(sourceModule(lockPath, rec.source));
  if (rec.integrity && rec.integrity !== now.integrity) {
    throw new IntegrityError(rec, now, lockPath);
  }
  return now;
}

/** Options of {@linkcode loadPersistedComponents}. */
export interface LoadPersistedOptions {
  /** Re-hash every module graph before importing it (default true). */
  verify?: boolean;
  /** Sources not to load (e.g. the one being updated). */
  skip?: string[];
  /**
   * Import and register the modules (default true). `false` only verifies
   * them: the parent of a least-privilege child never executes plugin code.
   */
  load?: boolean;
}

/**
 * Register every component recorded in the lockfile, after checking each
 * module graph still has its pinned integrity. Failures are reported, never swallowed.
 */
export async function loadPersistedComponents(
  config: FlowymlConfig,
  options: LoadPersistedOptions = {},
): Promise<Lockfile> {
  const path = lockfilePath(config);
  const lock = await readLockfile(path);
  const reg = getComponentRegistry();
  for (const c of lock.components) {
    if (options.skip?.includes(c.source)) continue;
    if (options.verify !== false) await verifyLocked(path, c);
    if (options.load === false) continue;
    try {
      await reg.loadComponent(lockedSpecifier(path, c.source), c.name);
    } catch (err) {
      throw new ComponentError(
        `component module ${c.source} (recorded in ${path}) failed to load: ${describeError(err)}`,
        {
          hint: `fix the module, or remove it with \`flowyml component remove ${c.source}\``,
          cause: err,
        },
      );
    }
  }
  return lock;
}

/** Remote module URL → sha256 hex of every locked plugin, in Deno lockfile form. */
export function pinnedRemoteModules(lock: Lockfile): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of lock.components) {
    for (const [url, hash] of Object.entries(c.modules ?? {})) {
      if (/^https?:/.test(url)) out[url] = hash;
    }
  }
  return out;
}

/**
 * The npm plugin packages Deno's lockfile can pin by themselves: those without
 * dependencies (a package with dependencies is left to Deno's own resolution).
 */
export function pinnedNpmPackages(lock: Lockfile): NpmPin[] {
  return lock.components.flatMap((c) => c.npm && !c.npm.dependencies.length ? [c.npm] : []);
}

/**
 * Write a Deno lockfile (format 5) that pins the plugins' remote modules and npm packages,
 * starting from `base` (e.g. flowyml's own deno.lock, for its npm
 * resolution). Deno checks every remote module it loads — from its cache or
 * the network — against it, so a process run with `--lock=<path>` executes
 * exactly the pinned bytes.
 */
export async function writeDenoLock(
  path: string,
  options: { base?: string; remote: Record<string, string>; npm?: NpmPin[] },
): Promise<void> {
  let data: Record<string, unknown> = { version: "5" };
  if (options.base) {
    try {
      data = JSON.parse(await Deno.readTextFile(options.base));
    } catch {
      // no readable base lockfile: start empty (Deno resolves npm packages again)
    }
  }
  data.remote = { ...(data.remote as Record<string, string> | undefined), ...options.remote };
  if (options.npm?.length) {
    // Deno checks the package's tarball against this integrity, and resolves
    // nothing: the exact version is already chosen.
    const specifiers = (data.specifiers ??= {}) as Record<string, string>;
    const npm = (data.npm ??= {}) as Record<string, unknown>;
    for (const p of options.npm) {
      const at = p.package.lastIndexOf("@");
      specifiers[`npm:${p.package}`] = p.package.slice(at + 1);
      npm[p.package] = { integrity: p.integrity };
    }
  }
  await Deno.mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  await Deno.writeTextFile(tmp, formatDenoLock(data));
  await Deno.rename(tmp, path);
}

const LOCK_KEY_ORDER = ["version", "specifiers", "jsr", "npm", "redirects", "remote", "workspace"];

function sortedKeys(v: unknown): unknown {
  if (!v || typeof v !== "object" || Array.isArray(v)) return v;
  return Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * A Deno lockfile's text exactly as Deno writes it (section order, sorted
 * entries, `os`/`cpu` arrays inline), so that when a frozen lockfile refuses a
 * module, Deno's diff shows only what was added.
 */
export function formatDenoLock(data: Record<string, unknown>): string {
  const ordered: Record<string, unknown> = {};
  for (const k of LOCK_KEY_ORDER) {
    if (k in data) {
      ordered[k] = ["specifiers", "npm", "remote"].includes(k) ? sortedKeys(data[k]) : data[k];
    }
  }
  for (const [k, v] of Object.entries(data)) if (!(k in ordered)) ordered[k] = v;
  return JSON.stringify(ordered, null, 2).replace(
    /("(?:os|cpu)": )\[\s*([^\]]*?)\s*\]/g,
    (_, key: string, body: string) => `${key}[${body.split(/,\s*/).join(", ")}]`,
  ) + "\n";
}

/**
 * Point the remote entries of Deno lockfiles at the newly pinned hashes.
 * Deno records dynamically imported remote modules in the lockfile the CLI
 * runs under (`deno.lock`) and would refuse — or keep running — the old
 * content after `component update`; rewriting those entries makes the next
 * process fetch and verify the new content. Only existing entries for this
 * plugin's modules are touched. Returns the files changed.
 */
export async function syncDenoLocks(
  paths: string[],
  options: { before: Record<string, string>; after: Record<string, string> },
): Promise<string[]> {
  const changed: string[] = [];
  for (const path of [...new Set(paths)]) {
    let data: { remote?: Record<string, string> };
    try {
      data = JSON.parse(await Deno.readTextFile(path));
    } catch {
      continue; // missing or unreadable: nothing to keep in step
    }
    const remote = data.remote ?? {};
    let dirty = false;
    for (const url of Object.keys({ ...options.before, ...options.after })) {
      if (!/^https?:/.test(url) || !(url in remote) || remote[url] === options.after[url]) continue;
      if (options.after[url]) remote[url] = options.after[url];
      else delete remote[url];
      dirty = true;
    }
    if (!dirty) continue;
    try {
      await Deno.writeTextFile(path, JSON.stringify(data, null, 2) + "\n");
      changed.push(path);
    } catch {
      // read-only lockfile: Deno will report the mismatch itself, naming the file
    }
  }
  return changed;
}
