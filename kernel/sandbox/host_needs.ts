/**
 * The Deno permissions the kernel needs to host a WASM plugin: read its
 * file (or reach its download host), **read** the plugin cache (the parent
 * CLI prepares it; the kernel never writes it), start plugin host processes
 * and the instrumenter (Deno itself, `--allow-run`), reach the limits
 * supervisor that enforces their limits when it runs as the least-privilege
 * child of `flowyml run` (its socket; Deno grants `/sys` and `/proc/<pid>`
 * only with `--allow-all`, so never those; limits.ts), read
 * the secrets and env variables it was granted, and start the net helper
 * process that makes its granted HTTP requests (the kernel itself gets no
 * network access from a plugin's grants). Extism and Binaryen run in those
 * child processes, never in the kernel.
 * @module
 */
import type { PermissionNeeds } from "../component.ts";
import type { PluginConfig } from "./grants.ts";
import { limitPaths } from "./limits.ts";
import { defaultCacheDir } from "./loader.ts";

export { EXTISM_ENV } from "./plugin_process.ts";

/** What the kernel needs to run plugin `cfg` with its grants. */
export function pluginPermissions(cfg: PluginConfig): PermissionNeeds {
  const cache = defaultCacheDir();
  const limits = limitPaths();
  const needs: Required<Pick<PermissionNeeds, "read" | "write" | "env" | "net" | "run">> = {
    read: [cache, ...limits.read],
    write: limits.write,
    env: ["FLOWYML_HOME", ...limits.env, ...cfg.grants.env, ...cfg.grants.secrets],
    net: limits.net,
    // Plugin host processes and the instrumenter (and the net helper) are `deno run`s.
    run: [Deno.execPath()],
  };
  if (/^https?:\/\//.test(cfg.source)) needs.net.push(new URL(cfg.source).host);
  else needs.read.push(cfg.source.replace(/^file:\/\//, ""));
  // No --allow-net for the plugin's grants.net: its brokered HTTP runs in a net helper process
  // (net_helper.ts) that holds them, never in the kernel where pipeline code runs. The kernel
  // only needs to start that helper (Deno itself).
  return needs;
}
