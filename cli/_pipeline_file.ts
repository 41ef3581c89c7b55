/**
 * The check of a pipeline module's path, before anything fetches or imports
 * it (shared by the launcher, which must stay light, and cli/_common.ts).
 * @module
 */
import { ConfigError } from "../kernel/errors.ts";

/**
 * Refuse a local pipeline module that does not exist (or is a folder) with a
 * message saying so, before anything fetches or imports it. Remote
 * specifiers (`https:`, `jsr:`, `npm:`) are left to the import.
 */
export async function checkPipelineFile(file: string): Promise<void> {
  if (/^(?:https?|jsr|npm|data):/.test(file)) return;
  const path = file.startsWith("file:") ? new URL(file).pathname : file;
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) return; // e.g. no read permission: the import explains
    let cwd = ".";
    try {
      cwd = Deno.cwd();
    } catch { /* no read permission on the current folder */ }
    throw new ConfigError(`pipeline file ${file} does not exist`, {
      hint: `check the path (relative paths start from the current folder, ${cwd})`,
    });
  }
  if (info.isDirectory) {
    throw new ConfigError(`pipeline file ${file} is a folder, not a module`, {
      hint: `name the module inside it, e.g. ${path.replace(/\/$/, "")}/pipeline.ts`,
    });
  }
}
