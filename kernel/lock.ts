/**
 * `flowyml.lock`: the trusted component modules a project pinned (`flowyml component load`, or
 * listed under `"flowyml": { "plugins": [...] }` in its deno.json / package.json), each pinned to
 * the integrity of the module graph it loaded (see docs/plugins.md). Read, verified and loaded
 * here for the CLI and for `Pipeline.run()` in a plain `deno run` script alike.
 * @module
 */
import { dirname, isAbsolute, join, relative, resolve } from "./_path.ts";
import { absolutePath } from "./project.ts";
import { configPath, type FlowymlConfig, loadConfig } from "./config.ts";
import {
  ComponentError,
  describeError,
  explainPermission,
  isPermissionError,
  MissingPermissionError,
} from "./errors.ts";
import { getComponentRegistry, originOf, toSpecifier } from "./registry.ts";
import { changedModules, type GraphIntegrity, hashModuleGraph, type NpmPin } from "./integrity.ts";

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
  return absolutePath(config?.path ? dirname(config.path) : ".", "flowyml.lock");
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
    throw explainPermission(err, `reading the lockfile ${path}`);
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

/** Options of {@linkcode pinSource}. */
export interface PinOptions {
  /** Register the components under this name. */
  name?: string;
  /** The record pinned so far, if any. */
  prev?: LockedComponent;
  /** Accept changed content (`component update`); otherwise a changed pin is refused. */
  update?: boolean;
  /** Import and register the module (default true); `false` pins its integrity only. */
  load?: boolean;
}

/**
 * Hash `source`'s module graph, refuse it when it differs from `prev`'s pin (unless updating),
 * import and register it, and return its new lockfile record (not yet written).
 */
export async function pinSource(
  lockPath: string,
  source: string,
  options: PinOptions = {},
): Promise<LockedComponent> {
  const now = await hashModuleGraph(sourceModule(lockPath, source));
  const prev = options.prev;
  if (prev?.integrity && prev.integrity !== now.integrity && !options.update) {
    throw new IntegrityError(prev, now, lockPath);
  }
  const entries = options.load === false
    ? prev?.entries ?? []
    : await getComponentRegistry().loadComponent(lockedSpecifier(lockPath, source), options.name);
  const at = new Date().toISOString();
  return {
    source,
    name: options.name,
    origin: originOf(sourceModule(lockPath, source)),
    entries: entries.map((e) => ({ kind: e.kind, type: e.type, version: e.version })),
    loadedAt: prev?.loadedAt ?? at,
    ...(options.update ? { updatedAt: at } : {}),
    integrity: now.integrity,
    modules: now.modules,
    ...(now.npm ? { npm: now.npm } : {}),
  };
}

/** How a source is recorded: relative files relative to the lockfile's folder, as `./…`. */
export function storedSource(lockPath: string, source: string): string {
  if (/^(jsr:|npm:|https?:|data:|file:)/.test(source) || isAbsolute(source)) return source;
  const [file, cls] = source.split(/:(?=[A-Za-z_$][\w$]*$)/);
  let rel = relative(absolutePath(dirname(lockPath)), absolutePath(file));
  if (!rel.startsWith(".")) rel = `./${rel}`;
  return cls ? `${rel}:${cls}` : rel;
}

/**
 * Plugin sources a project declares once, the Deno form of Python entry points:
 * `"flowyml": { "plugins": ["npm:pkg@1.0.0", "./local_plugin.ts"] }` in the `deno.json` or
 * `package.json` beside its `flowyml.lock`. Relative paths are relative to that folder; each
 * source is returned as the lockfile records it.
 */
export async function declaredPlugins(lockPath: string): Promise<string[]> {
  const dir = dirname(lockPath);
  const out: string[] = [];
  for (const file of ["deno.json", "package.json"]) {
    const path = join(dir, file);
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) continue;
      throw isPermissionError(err) ? explainPermission(err, `reading ${path}`) : err;
    }
    let list: unknown;
    try {
      list = JSON.parse(text)?.flowyml?.plugins;
    } catch (err) {
      throw new ComponentError(`${path} is not valid JSON: ${describeError(err)}`);
    }
    if (list === undefined) continue;
    if (!Array.isArray(list) || list.some((x) => typeof x !== "string" || !x)) {
      throw new ComponentError(`${path}: "flowyml.plugins" must be a list of module sources`, {
        hint: 'write e.g. "flowyml": { "plugins": ["npm:flowyml-airflow@0.1.0", "./plugin.ts"] }',
      });
    }
    for (const src of list as string[]) {
      const stored = declaredSource(dir, src);
      if (!out.includes(stored)) out.push(stored);
    }
  }
  return out;
}

/** A declared source as the lockfile in `dir` records it: files as `./…` relative to `dir`. */
function declaredSource(dir: string, src: string): string {
  if (/^(jsr:|npm:|https?:|data:|file:)/.test(src) || isAbsolute(src)) return src;
  const [file, cls] = src.split(/:(?=[A-Za-z_$][\w$]*$)/);
  let rel = relative(dir, resolve(dir, file));
  if (!rel.startsWith(".")) rel = `./${rel}`;
  return cls ? `${rel}:${cls}` : rel;
}

/** Options of {@linkcode loadPersistedComponents}. */
export interface LoadPersistedOptions {
  /**
   * Re-hash every module graph before importing it, and pin the plugins the project declares in
   * its deno.json / package.json that flowyml.lock lacks (default true). `false`: a trusted
   * parent already did both.
   */
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
 * module graph still has its pinned integrity. Plugins declared in the project's deno.json or
 * package.json and not yet in the lockfile are pinned there first (first use pins, like
 * `flowyml component load`). Failures are reported, never swallowed.
 */
export async function loadPersistedComponents(
  config: FlowymlConfig,
  options: LoadPersistedOptions = {},
): Promise<Lockfile> {
  const path = lockfilePath(config);
  const lock = await readLockfile(path);
  const fresh = new Set<string>();
  if (options.verify !== false) {
    for (const source of await declaredPlugins(path)) {
      if (options.skip?.includes(source) || lock.components.some((c) => c.source === source)) {
        continue;
      }
      lock.components.push(await pinSource(path, source, { load: options.load }));
      fresh.add(source);
    }
    if (fresh.size) await writeLockfileExplained(path, lock);
  }
  for (const c of lock.components) {
    if (options.skip?.includes(c.source) || fresh.has(c.source)) continue;
    if (options.verify !== false) await verifyLocked(path, c);
    if (options.load === false) continue;
    await loadLocked(path, c);
  }
  return lock;
}

async function loadLocked(path: string, c: LockedComponent): Promise<void> {
  try {
    await getComponentRegistry().loadComponent(lockedSpecifier(path, c.source), c.name);
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

async function writeLockfileExplained(path: string, lock: Lockfile): Promise<void> {
  try {
    await writeLockfile(path, lock);
  } catch (err) {
    if (!isPermissionError(err)) throw err;
    throw new MissingPermissionError(
      `pinning the project's declared plugins in ${path}`,
      `--allow-write=${path},${join(dirname(path), ".flowyml")}`,
      err,
    );
  }
}

const projects = new Map<string, Promise<Lockfile>>();

/**
 * What `Pipeline.run()` does in a plain `deno run` script before it builds a stack by name:
 * load the project's `flowyml.yaml`, then verify, pin and register the component modules of its
 * `flowyml.lock` (and its declared plugins) exactly as the CLI does. Once per lockfile and
 * process; a failure is not remembered, so a fixed project loads on the next call.
 */
export function loadProjectComponents(
  options: { configPath?: string } = {},
): Promise<Lockfile> {
  const key = options.configPath ?? configPath();
  let p = projects.get(key);
  if (!p) {
    p = loadConfig(options.configPath).then((config) => loadPersistedComponents(config));
    p.catch(() => projects.delete(key));
    projects.set(key, p);
  }
  return p;
}
