/**
 * Where flowyml itself is installed and where it keeps generated files of a
 * project: shared by the commands that start least-privilege child processes.
 * @module
 */
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { FlowymlConfig } from "../kernel/config.ts";
import { lockfilePath } from "./lockfile.ts";

/** Folder holding flowyml's own sources (`…/cli/..`), when run from files. */
export function installRoot(): string | undefined {
  const u = new URL("../", import.meta.url);
  return u.protocol === "file:" ? fileURLToPath(u).replace(/\/$/, "") : undefined;
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
