/**
 * The plugin configs known in this process (from `configurePlugins()` or read
 * from `flowyml.yaml` by the runtime). A light module of its own so that
 * `pluginStep()` can salt its cache key without loading the sandbox runtime.
 * @module
 */
import type { PluginConfig } from "./grants.ts";

/** Validated plugin configs by plugin name (written by runtime.ts). */
export const configured: Map<string, PluginConfig> = new Map();

/** The configured entry, if known synchronously (used for cache salts). */
export function knownPluginConfig(name: string): PluginConfig | undefined {
  return configured.get(name);
}
