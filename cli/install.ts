/**
 * Where flowyml itself is installed and where it keeps generated files of a
 * project: shared by the commands that start least-privilege child processes.
 * @module
 */
import { dirname, fileURLToPath, resolve } from "../kernel/_path.ts";
import type { FlowymlConfig } from "../kernel/config.ts";
import type { Lockfile } from "../kernel/lock.ts";
import { lockfilePath } from "./lockfile.ts";

/** Folder holding flowyml's own sources (`…/cli/..`), when run from files. */
export function installRoot(): string | undefined {
  const u = new URL("../", import.meta.url);
  return u.protocol === "file:" ? fileURLToPath(u).replace(/\/$/, "") : undefined;
}

/**
 * Whether a process started from here may use flowyml's `node_modules` folder as it is
 * (`--node-modules-dir=manual`) instead of having Deno check it against the lockfile again
 * (`auto`, ≈ 100 ms of a cold start for a graph holding every npm package flowyml may load): true
 * when the folder exists (the CLI, started under `auto`, has checked and filled it) and no locked
 * component brings an npm package of its own, which only `auto` would install.
 */
export function nodeModulesReady(lock: Lockfile): boolean {
  const root = installRoot();
  if (!root || !statOf(resolve(root, "node_modules", ".deno"))?.isDirectory) return false;
  return !lock.components.some((c) => c.npm || /^npm:/.test(c.source));
}

/**
 * flowyml's own `deno.lock`, when it is a file this process can see (a child reads its
 * `--lock` file without a read grant).
 */
export function installLockfile(): string | undefined {
  const root = installRoot();
  const path = root && resolve(root, "deno.lock");
  return path && statOf(path)?.isFile ? path : undefined;
}

/** `Deno.statSync`, or `undefined` when missing or not visible (not `node:fs`: ≈ 12 ms to load). */
function statOf(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.statSync(path);
  } catch {
    return undefined;
  }
}

/** Where the CLI's `deno.json` is (for a child process's import map), if readable. */
export async function installConfig(): Promise<string | undefined> {
  const root = installRoot();
  if (!root) return undefined;
  const p = resolve(root, "deno.json");
  try {
    await Deno.stat(p);
    return p;
  } catch {
    return undefined;
  }
}

/** Folder for flowyml's generated files next to the lockfile. */
export function projectStateDir(config: FlowymlConfig): string {
  return resolve(dirname(lockfilePath(config)), ".flowyml");
}

/** The deno binary this process may start (its own, else `deno` on PATH), if any. */
export function runnableDeno(): string | undefined {
  for (const cmd of [Deno.execPath(), "deno"]) {
    if (Deno.permissions.querySync({ name: "run", command: cmd }).state === "granted") return cmd;
  }
  return undefined;
}
