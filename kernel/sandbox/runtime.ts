/**
 * Plugin runtime: resolves a plugin's config (`flowyml.yaml` `plugins:`),
 * keeps one host process per loaded plugin, and runs brokered calls with the
 * audit trail written to the run's metadata store.
 * @module
 */
import { addExitHook, addRunListener } from "../lifecycle.ts";
import { loadConfig } from "../config.ts";
import type { StackLike } from "../contracts.ts";
import type { RunControl } from "../scheduling.ts";
import { ConfigError, describeError } from "../errors.ts";
import { hashValue } from "../hash.ts";
import { Broker } from "./broker.ts";
import { PluginViolationError } from "./errors.ts";
import { parsePluginConfig, type PluginConfig } from "./grants.ts";
import { type CallResult, PluginHost } from "./host.ts";
import { type LoadOptions, loadPlugin } from "./loader.ts";
import { closeSpareProcess } from "./spare.ts";
import { configured } from "./plugin_configs.ts";

export { knownPluginConfig } from "./plugin_configs.ts";

const hosts = new Map<string, Promise<PluginHost>>();

/**
 * Use these plugin entries (the `plugins:` section of a parsed config) instead
 * of reading `flowyml.yaml` at run time. Each entry is validated now.
 */
export function configurePlugins(
  plugins: Record<string, unknown>,
  options: { file?: string } = {},
): void {
  for (const [name, raw] of Object.entries(plugins)) {
    configured.set(name, parsePluginConfig(name, raw, options.file));
  }
}

/** The validated config of plugin `name`: configured, else from `flowyml.yaml`. */
export async function resolvePluginConfig(name: string): Promise<PluginConfig> {
  const hit = configured.get(name);
  if (hit) return hit;
  const config = await loadConfig();
  const raw = config.plugins[name];
  if (!raw) {
    throw new ConfigError(`no plugin named "${name}" in ${config.path ?? "flowyml.yaml"}`, {
      hint: `add plugins.${name} with source, sha256 and grants (see docs/sandbox.md)`,
    });
  }
  const parsed = parsePluginConfig(name, raw, config.path);
  configured.set(name, parsed);
  return parsed;
}

/** A running host for plugin `name` with `config` (shared per module and grants). */
export async function pluginHost(
  name: string,
  config: PluginConfig,
  options: LoadOptions = {},
): Promise<PluginHost> {
  const loaded = await loadPlugin(name, config, options);
  const key = `${name}:${loaded.sha256}:${hashValue(config.grants)}`;
  let p = hosts.get(key);
  if (!p) {
    p = PluginHost.start(name, loaded, config.grants);
    hosts.set(key, p);
    p.catch(() => hosts.delete(key));
  }
  return await p;
}

// Plugin host processes are closed when the last run in this process finishes (a script that
// runs a pipeline then exits leaves none behind). The next run starts them again.
let activeRuns = 0;
addRunListener({
  started: () => void activeRuns++,
  finished: async () => {
    activeRuns = Math.max(0, activeRuns - 1);
    if (activeRuns === 0) await closePluginHosts();
  },
});

/** Stop every plugin host process, and the warm spare (end of tests, CLI exit). */
export async function closePluginHosts(): Promise<void> {
  const all = [...hosts.values()];
  hosts.clear();
  await closeSpareProcess();
  await Promise.all(all.map(async (p) => await (await p.catch(() => undefined))?.close()));
  await closeSpareProcess(); // again: a host that was still starting may have asked for one
}
// The CLI closes them when its command ends, without importing this module itself.
addExitHook(closePluginHosts);

/** Options of {@linkcode invokePlugin}. */
export interface InvokeOptions {
  /** The JSON input of the call. */
  input: unknown;
  /** Run the call belongs to; audit events are recorded under it. */
  runId: string;
  /** Step that made the call, when called from a step. */
  step?: string;
  /** Stack whose stores the broker uses; without it, artifact and metadata requests fail. */
  stack?: StackLike;
  /** Cancels the call (the plugin is interrupted). */
  signal?: AbortSignal;
  /** Receives the plugin's log lines, prefixed with their level. */
  log?: (message: string) => void;
  /** Where `metadata.log` metrics go (the calling step's `ctx.logMetrics`). */
  logMetrics?: (metrics: Record<string, number>) => void;
  /** Buffers that become read handles 1…n (transferred: do not use them afterwards). */
  inputs?: ArrayBuffer[];
  /** Override the plugin's grants.timeout. */
  timeoutMs?: number;
  /** Plugin config to use instead of looking `name` up in `flowyml.yaml`. */
  config?: PluginConfig;
  /** The run this call schedules, for orchestrator plugins (`orchestration.submit`/`await`). */
  orchestration?: RunControl;
  /** Who the audit rows name (default: the plugin name), e.g. `store_plugin@train`. */
  actor?: string;
}

/**
 * Call export `fn` of plugin `name` with a JSON input, brokering its requests.
 * Every brokered request, and the call itself, is written to the audit trail.
 */
export async function invokePlugin(
  name: string,
  fn: string,
  options: InvokeOptions,
): Promise<CallResult & { json: unknown }> {
  const input = options.input;
  const config = options.config ?? await resolvePluginConfig(name);
  const host = await pluginHost(name, config);
  if (!host.plugin.exports.includes(fn)) {
    throw new PluginViolationError(name, "malformed", `does not export "${fn}"`, {
      hint: `it exports: ${host.plugin.exports.join(", ") || "(nothing)"}`,
    });
  }
  const timeoutMs = options.timeoutMs ?? config.grants.timeout;
  const broker = new Broker({
    plugin: name,
    grants: config.grants,
    runId: options.runId,
    step: options.step,
    stack: options.stack,
    log: options.log,
    logMetrics: options.logMetrics,
    orchestration: options.orchestration,
    actor: options.actor,
    deadline: () => host.deadline,
    signal: options.signal,
  });
  const t0 = performance.now();
  try {
    const res = await host.call(
      fn,
      new TextEncoder().encode(JSON.stringify(input)),
      options.inputs ?? [],
      {
        broker: broker.handle,
        timeoutMs,
        signal: options.signal,
        log: broker.pluginLog,
        lastDenial: () => broker.lastDenial,
        hostRead: broker.hostRead,
      },
    );
    let json: unknown = null;
    if (res.output?.length) {
      try {
        json = JSON.parse(new TextDecoder().decode(res.output));
      } catch {
        throw new PluginViolationError(name, "malformed", `output of "${fn}" is not valid JSON`);
      }
    }
    const actor = options.actor ?? name;
    broker.events.push(
      callEvent(actor, fn, options.runId, true, `${(performance.now() - t0).toFixed(1)} ms`),
    );
    return { ...res, json };
  } catch (err) {
    const actor = options.actor ?? name;
    broker.events.push(
      callEvent(actor, fn, options.runId, false, broker.clean(describeError(err))),
    );
    throw err;
  } finally {
    await broker.flush();
  }
}

function callEvent(actor: string, fn: string, runId: string, allowed: boolean, detail: string) {
  return {
    runId,
    actor,
    op: "call",
    resource: fn,
    allowed,
    detail: detail.slice(0, 2000),
    at: Date.now(),
  };
}
