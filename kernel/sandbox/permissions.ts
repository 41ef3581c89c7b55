/**
 * The Deno permissions the kernel needs to host a WASM plugin: read its
 * file (or reach its download host), use the plugin cache, read the two
 * variables Extism reads at load, and perform the HTTP requests and secret
 * lookups it was granted (the kernel makes them on the plugin's behalf).
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
  for (const host of cfg.grants.net) {
    // Deno flags take exact hosts; a glob grant needs the broad flag (the broker still checks it).
    needs.net.push(/[*?]/.test(host) ? "*" : host);
  }
  return needs;
}
