/**
 * The Deno side of `flowyml.lock`: Deno lockfiles that pin the plugins' remote modules and npm
 * packages for least-privilege children. Reading, verifying and loading `flowyml.lock` itself is
 * the kernel's (`kernel/lock.ts`), re-exported here for the CLI.
 * @module
 */
import { dirname, fileURLToPath } from "../kernel/_path.ts";
import { type LockedComponent, type Lockfile, sourceModule } from "../kernel/lock.ts";
import type { NpmPin } from "../kernel/integrity.ts";
import { importHostOf } from "../kernel/permissions.ts";

export * from "../kernel/lock.ts";

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
 * What loading one locked component module takes: the hosts its remote modules
 * are imported from (`jsr.io` for a `jsr:` source) and its local files
 * (module keys relative to the lockfile's folder, absolute paths or `file:` URLs,
 * percent-decoded). The planner and the run's child both get exactly these.
 */
export function lockedModuleAccess(
  rec: LockedComponent,
  lockPath: string,
): { hosts: string[]; files: string[] } {
  const root = sourceModule(lockPath, rec.source);
  const hosts = new Set<string>(/^jsr:/.test(rec.source) ? ["jsr.io"] : []);
  const files: string[] = [];
  for (const key of Object.keys(rec.modules ?? { [root]: "" })) {
    const url = key.startsWith("/") ? new URL(`file://${key}`) : new URL(key, root);
    const host = importHostOf(url.href);
    if (host) hosts.add(host);
    else if (url.protocol === "file:") files.push(fileURLToPath(url));
  }
  return { hosts: [...hosts].sort(), files };
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
 * starting from `base`, a parsed lockfile (e.g. flowyml's own deno.lock, for its npm
 * resolution; default: empty, and Deno resolves npm packages again). Deno checks every remote
 * module it loads — from its cache or the network — against it, so a process run with
 * `--lock=<path>` executes exactly the pinned bytes.
 */
export async function writeDenoLock(
  path: string,
  options: { base?: Record<string, unknown>; remote: Record<string, string>; npm?: NpmPin[] },
): Promise<void> {
  const data: Record<string, unknown> = structuredClone(options.base ?? { version: "5" });
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
