/**
 * The Deno permissions the kernel needs to host a WASM plugin: read its
 * file (or reach its download host), use the plugin cache, read the two
 * variables Extism reads at load, read the secrets it was granted, and start
 * the net helper process that makes its granted HTTP requests (the kernel
 * itself gets no network access from a plugin's grants).
 * @module
 */
import { fileURLToPath } from "node:url";
import type { PermissionNeeds } from "../component.ts";
import type { PluginConfig } from "./grants.ts";
import { defaultCacheDir } from "./loader.ts";

/** flowyml's own folder (the host worker's modules and its node_modules live under it). */
const FLOWYML_ROOT = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");

/** Env variables `@extism/extism` reads when it loads. */
export const EXTISM_ENV = ["EXTISM_ENABLE_WASI_OUTPUT", "__MINIMATCH_TESTING_PLATFORM__"] as const;

/** What the kernel needs to run plugin `cfg` with its grants. */
export function pluginPermissions(cfg: PluginConfig): PermissionNeeds {
  const cache = defaultCacheDir();
  const needs: Required<Pick<PermissionNeeds, "read" | "write" | "env" | "net">> = {
    // The plugin host worker loads flowyml's sandbox modules and their npm packages at run time.
    read: [cache, FLOWYML_ROOT],
    write: [cache],
    env: [...EXTISM_ENV, "FLOWYML_HOME", ...cfg.grants.env, ...cfg.grants.secrets],
    net: [],
  };
  if (/^https?:\/\//.test(cfg.source)) needs.net.push(new URL(cfg.source).host);
  else needs.read.push(cfg.source.replace(/^file:\/\//, ""));
  // No --allow-net for the plugin's grants.net: its brokered HTTP runs in a net helper process
  // (net_helper.ts) that holds them, never in the kernel where pipeline code runs. The kernel
  // only needs to start that helper (Deno itself).
  if (cfg.grants.net.length) (needs as PermissionNeeds).run = [Deno.execPath()];
  return needs;
}
