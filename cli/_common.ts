/**
 * Helpers shared by CLI commands: loading config/stacks with persisted
 * component plugins, importing pipeline modules, and output formatting.
 * @module
 */
// Every CLI command that loads plugins loads the project here: mod.ts hands the locked modules
// that export `components(flowyml)` flowyml's whole public API.
import "../mod.ts";
import { Pipeline } from "../kernel/pipeline.ts";
import { toSpecifier } from "../kernel/registry.ts";
import {
  ConfigError,
  describeError,
  explainPermission,
  isPermissionError,
} from "../kernel/errors.ts";
import { configPath, type FlowymlConfig, loadConfig, stackNameOf } from "../kernel/config.ts";
import { buildStack, type Stack } from "../kernel/stack.ts";
import { loadPersistedComponents, type LoadPersistedOptions, type Lockfile } from "./lockfile.ts";
import { lazyImport } from "../kernel/lazy_import.ts";
import type { MetadataStore } from "../kernel/contracts.ts";
import { withLiveStatus } from "../kernel/run_liveness.ts";
import { checkPipelineFile } from "./_pipeline_file.ts";
import { projectConfigOf } from "./project_imports.ts";

export { checkPipelineFile } from "./_pipeline_file.ts";

/** A loaded project: its config and the lockfile of its trusted component modules. */
export interface Project {
  config: FlowymlConfig;
  lock: Lockfile;
}

/**
 * Load `flowyml.yaml`, validate its WASM plugins' grants (so a bad grant fails
 * before any step runs) and register the component modules recorded by
 * `component load`, each checked against its pinned integrity.
 */
export async function loadProject(options: LoadPersistedOptions = {}): Promise<Project> {
  const config = await loadConfig(configPath());
  if (Object.keys(config.plugins ?? {}).length) {
    // The sandbox runtime (and zod for the grants) only for a project that has WASM plugins.
    const { configurePlugins } = await lazyImport<typeof import("../kernel/sandbox/runtime.ts")>(
      new URL("../kernel/sandbox/runtime.ts", import.meta.url),
    );
    configurePlugins(config.plugins, { file: config.path });
  }
  const lock = await loadPersistedComponents(config, options);
  return { config, lock };
}

/** Load the project and build a stack (default: `default_stack`, else `local`). */
export async function openStack(name?: string): Promise<{ config: FlowymlConfig; stack: Stack }> {
  const { config } = await loadProject();
  const stack = await buildStack(config, stackNameOf(config, name));
  return { config, stack };
}

/** Import a pipeline module and return its pipeline (default export, or `pipeline`). */
export async function importPipeline(file: string): Promise<Pipeline> {
  await checkPipelineFile(file);
  const spec = toSpecifier(file);
  let mod: Record<string, unknown>;
  try {
    mod = await import(spec);
  } catch (err) {
    if (isPermissionError(err)) throw explainPermission(err, `importing ${file}`);
    const why = describeError(err);
    // This process resolves bare imports with flowyml's deno.json, not the project's.
    const config = /not a dependency|not in import map/.test(why)
      ? projectConfigOf(file)
      : undefined;
    throw new ConfigError(`could not import pipeline module ${file}: ${why}`, {
      cause: err,
      hint: config &&
        `${config} maps the project's imports, but a pipeline run in the CLI's own process ` +
          "resolves them with flowyml's deno.json: run it without --inherit-permissions (the " +
          "least-privilege child uses the project's import map), or with `deno run` directly",
    });
  }
  const p = mod.default ?? mod.pipeline;
  if (!(p instanceof Pipeline)) {
    throw new ConfigError(`${file} does not export a Pipeline`, {
      hint: 'add `export default new Pipeline("name").add(…)` (or `export const pipeline = …`)',
    });
  }
  if (!p.options.source) p.options.source = spec;
  return p;
}

/** Commander's collector of a repeatable option: each value appended to the previous ones. */
export function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

/** Parse `--param k=v` values: JSON when it parses (numbers, booleans, arrays), else a string. */
export function parseParams(pairs: string[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const i = pair.indexOf("=");
    if (i <= 0) {
      throw new ConfigError(`--param "${pair}" is not k=v`, { hint: "write --param lr=0.1" });
    }
    const v = pair.slice(i + 1);
    try {
      out[pair.slice(0, i)] = JSON.parse(v);
    } catch {
      out[pair.slice(0, i)] = v;
    }
  }
  return out;
}

/** Milliseconds as a short human string. */
export function ms(n: number | undefined): string {
  if (n === undefined || Number.isNaN(n)) return "-";
  if (n < 1) return `${n.toFixed(2)} ms`;
  if (n < 1000) return `${Math.round(n)} ms`;
  return `${(n / 1000).toFixed(2)} s`;
}

/** Bytes as a short human string. */
export function bytes(n: number): string {
  const u = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i ? n.toFixed(1) : n} ${u[i]}`;
}

/** Render rows as an aligned text table. */
export function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((c, i) => (c ?? "").padEnd(w[i])).join("  ").trimEnd();
  return [line(head), line(w.map((n) => "-".repeat(n))), ...rows.map(line)].join("\n");
}

/**
 * `meta` as readers should see it: a `running` run whose driving process is
 * gone reads as `crashed` (kernel/run_liveness.ts). Everything else is `meta`'s.
 */
export function liveRunsView(meta: MetadataStore): MetadataStore {
  return new Proxy(meta, {
    get(target, key) {
      if (key === "getRun") {
        return async (runId: string) => {
          const run = await target.getRun(runId);
          return run && withLiveStatus(run);
        };
      }
      const v = Reflect.get(target, key, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}
