/**
 * The least-privilege permission set of a run (private to cli/launcher.ts,
 * which re-exports it): each component's needs (asked in a planner process
 * when the stack uses locked component modules, see cli/plan.ts), the config
 * file, the CLI, the pinned and WASM plugins, the pipeline module's own
 * imports and the `--grant`s, merged into `deno run` flags.
 * @module
 */
import { fileURLToPath, relative } from "../kernel/_path.ts";
import { absolutePath } from "../kernel/project.ts";
import type { PermissionNeeds } from "../kernel/component.ts";
import { configPath, type FlowymlConfig } from "../kernel/config.ts";
import { ConfigError } from "../kernel/errors.ts";
import { sha256Hex } from "../kernel/hash.ts";
import {
  importHostOf,
  type MergedNeeds,
  mergeNeeds,
  PERMISSION_KINDS,
  type PermissionKind,
  toDenoFlags,
} from "../kernel/permissions.ts";
import { toSpecifier } from "../kernel/registry.ts";
import { walkModuleGraph } from "../kernel/integrity.ts";
import { importSpecifiers, resolveImport } from "../kernel/module_graph.ts";
import type { Lockfile } from "../kernel/lock.ts";
import { lockfilePath } from "../kernel/lock.ts";
import { lockedModuleAccess } from "./lockfile.ts";
import { lazyImport } from "../kernel/lazy_import.ts";
import { installRoot } from "./install.ts";
import {
  type ImportMap,
  type ProjectImports,
  projectImports,
  resolveMapped,
} from "./project_imports.ts";
import {
  CLI_ENV,
  type PermissionReason,
  planComponentNeeds,
  type RunLock,
  writeRunLock,
} from "./plan.ts";

/** The computed permission set of a stack (and pipeline). */
export interface ComputedPermissions {
  needs: MergedNeeds;
  reasons: PermissionReason[];
  /** `deno run` flags, with `--no-prompt`. */
  flags: string[];
  /**
   * The pipeline's remote modules (URL → sha256 hex) as the parent fetched
   * them: pinned in the child's frozen lockfile beside the plugins.
   */
  pipelineRemote: Record<string, string>;
  /**
   * Package specifiers (`npm:`, `jsr:`, bare names other than `flowyml`) the
   * pipeline's own modules import: they may need Deno to install a package.
   */
  pipelinePackages: string[];
}

/** `path` relative to the current folder when it is below it. */
export function rel(path: string): string {
  const r = relative(Deno.cwd(), path);
  return r === "" ? "." : r.startsWith("..") ? path : r;
}

/** `${VAR}` names used in a config file's text. */
export function referencedEnv(text: string): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(/(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}/g)) {
    out.add(m[1]);
  }
  return [...out].sort();
}

/** Options of {@linkcode computePermissions}. */
export interface ComputeOptions {
  /** Pipeline module whose local imports must be readable. */
  pipeline?: string;
  /** The lockfile, verified; its modules need not (and should not) be imported here. */
  lock: Lockfile;
  /** Extra grants, e.g. from `flowyml run --grant env=TOKEN`. */
  extra?: PermissionNeeds;
  /** The frozen lockfile the planner runs under (default: written for `lock`). */
  runLock?: RunLock;
  /**
   * What the child needs to reach the parent's limits supervisor
   * (cli/limits_supervisor.ts), which enforces its plugin processes' limits.
   */
  limits?: PermissionNeeds;
  /**
   * The pipeline project's import map, when the caller has read it already (`null`: it has
   * none); read here otherwise.
   */
  projectImports?: ProjectImports | null;
}

/**
 * Compute the least-privilege permission set of running `pipeline` on the
 * stack `stackName`. The components' `permissions()` are asked in a planner
 * process without permissions (see cli/plan.ts): this process never imports
 * the locked component modules nor the pipeline.
 */
export async function computePermissions(
  config: FlowymlConfig,
  stackName: string,
  options: ComputeOptions,
): Promise<ComputedPermissions> {
  const runLock = options.runLock ??
    (options.lock.components.length ? await writeRunLock(config, options.lock) : undefined);
  const reasons = await planComponentNeeds(config, stackName, { lock: options.lock, runLock });
  reasons.push(...await staticNeeds(config, options.lock));
  if (options.limits) reasons.push({ by: "plugin limits supervisor", needs: options.limits });
  let pipelineRemote: Record<string, string> = {};
  let pipelinePackages: string[] = [];
  if (options.pipeline) {
    const project = options.projectImports === undefined
      ? await projectImports(options.pipeline)
      : options.projectImports ?? undefined;
    const p = await pipelineNeeds(options.pipeline, project?.map);
    pipelineRemote = p.remote;
    pipelinePackages = p.packages;
    reasons.push({ by: `pipeline ${options.pipeline}`, needs: p.needs });
  }
  if (options.extra) reasons.push({ by: "--grant", needs: options.extra });
  const needs = mergeNeeds(reasons.map((r) => r.needs));
  return {
    needs,
    reasons,
    flags: toDenoFlags(needs, { noPrompt: true }),
    pipelineRemote,
    pipelinePackages,
  };
}

/** Needs known without running any component: the config, the CLI, the pinned and WASM plugins. */
async function staticNeeds(config: FlowymlConfig, lock: Lockfile): Promise<PermissionReason[]> {
  const reasons: PermissionReason[] = [];
  const cfgFile = config.path ?? configPath();
  const lockPath = lockfilePath(config);
  // Both are read even when missing (a missing file is not an error).
  const read = [rel(absolutePath(cfgFile)), rel(lockPath)];
  let env = [...CLI_ENV];
  if (config.path) {
    try {
      env = [...env, ...referencedEnv(await Deno.readTextFile(config.path))];
    } catch { /* unreadable config: loadConfig already reported it */ }
  }
  // sys=hostname: the run records its host, so `runs list` can tell a crashed run (docs/runs.md).
  reasons.push({
    by: `config ${cfgFile} and flowyml CLI`,
    needs: { read, env, sys: ["hostname"] },
  });
  for (const rec of lock.components) {
    const { hosts, files } = lockedModuleAccess(rec, lockPath);
    reasons.push({ by: `plugin ${rec.source}`, needs: { import: hosts, read: files.map(rel) } });
  }
  reasons.push(...await wasmPluginNeeds(config));
  return reasons;
}

/** What hosting each WASM plugin needs; the sandbox's grants (and zod) load only if there are any. */
async function wasmPluginNeeds(config: FlowymlConfig): Promise<PermissionReason[]> {
  const entries = Object.entries(config.plugins);
  if (!entries.length) return [];
  const { parsePluginConfig } = await lazyImport<typeof import("../kernel/sandbox/grants.ts")>(
    new URL("../kernel/sandbox/grants.ts", import.meta.url),
  );
  const { pluginPermissions } = await lazyImport<
    typeof import("../kernel/sandbox/host_needs.ts")
  >(new URL("../kernel/sandbox/host_needs.ts", import.meta.url));
  return entries.map(([name, raw]) => ({
    by: `WASM plugin "${name}"`,
    needs: pluginPermissions(parsePluginConfig(name, raw, config.path)),
  }));
}

function isFlowymlSource(url: string, root: string | undefined): boolean {
  if (!root || !url.startsWith("file:")) return false;
  const p = fileURLToPath(url);
  return p === `${root}/mod.ts` ||
    ["kernel", "plugins", "cli"].some((d) => p.startsWith(`${root}/${d}/`));
}

/**
 * Read access to the pipeline module's local files; import access to its
 * remote hosts, and the sha256 of each remote module as fetched now (the
 * child's frozen lockfile pins them).
 */
async function pipelineNeeds(
  file: string,
  map: ImportMap | undefined,
): Promise<{ needs: PermissionNeeds; remote: Record<string, string>; packages: string[] }> {
  const root = installRoot();
  const spec = toSpecifier(file);
  // What the project's deno.json maps is part of the pipeline's graph (cli/project_imports.ts).
  const mapped = (s: string, importer: string) => map && resolveMapped(map, s, importer);
  const graph = await walkModuleGraph(spec, {
    // flowyml's own modules are loaded by the CLI before the pipeline.
    skip: (u) => u !== spec && isFlowymlSource(u, root),
    resolve: mapped,
  });
  const read: string[] = [];
  const imp: string[] = [];
  const remote: Record<string, string> = {};
  const packages = new Set<string>();
  for (const [url, bytes] of graph) {
    if (url.startsWith("file:")) read.push(rel(fileURLToPath(url)));
    else if (importHostOf(url)) {
      imp.push(importHostOf(url)!);
      remote[url] = sha256Hex(bytes);
    }
    for (const s of importSpecifiers(new TextDecoder().decode(bytes))) {
      if (resolveImport(s, url) || /^(node:|flowyml(\/|$))/.test(s)) continue;
      const target = mapped(s, url);
      if (!target || /^(npm|jsr):/.test(target)) packages.add(target ?? s);
    }
  }
  return { needs: { read, import: imp }, remote, packages: [...packages].sort() };
}

/** Parse `--grant kind=resource` values into needs. */
export function parseGrants(values: string[] = []): PermissionNeeds {
  const out: PermissionNeeds = {};
  for (const v of values) {
    const m = /^(?:--allow-)?([a-z]+)(?:=(.*))?$/.exec(v);
    const kind = m?.[1] as PermissionKind | undefined;
    if (!m || !kind || !PERMISSION_KINDS.includes(kind)) {
      throw new ConfigError(`--grant "${v}" is not kind=resource`, {
        hint: `write e.g. --grant env=TOKEN or --grant net=api.example.com:443; kinds: ${
          PERMISSION_KINDS.join(", ")
        }`,
      });
    }
    (out[kind] ??= []).push(...(m[2] ? m[2].split(",") : ["*"]));
  }
  return out;
}
