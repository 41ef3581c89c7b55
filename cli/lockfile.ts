/**
 * `flowyml.lock`: the trusted component modules loaded with
 * `flowyml component load`, so later commands still see them.
 * @module
 */
import { dirname, resolve } from "node:path";
import type { FlowymlConfig } from "../kernel/config.ts";
import { ComponentError, describeError } from "../kernel/errors.ts";
import { getComponentRegistry } from "../kernel/registry.ts";

/** One loaded module in the lockfile. */
export interface LockedComponent {
  /** As given to `component load` (relative paths are relative to the lockfile). */
  source: string;
  /** Registered components: kind and type. */
  entries: { kind: string; type: string; version?: string }[];
  /** Name override given at load time. */
  name?: string;
  loadedAt: string;
  /** Integrity of the loaded module graph (sha256), when known. */
  integrity?: string;
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
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
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

/** Register every component recorded in the lockfile. Failures are reported, never swallowed. */
export async function loadPersistedComponents(config: FlowymlConfig): Promise<void> {
  const path = lockfilePath(config);
  const lock = await readLockfile(path);
  const reg = getComponentRegistry();
  for (const c of lock.components) {
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
}
