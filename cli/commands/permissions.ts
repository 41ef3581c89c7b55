/**
 * `flowyml permissions --stack <name> [pipeline.ts]`: the minimal `deno run`
 * flags (or deno.json permission set) a pipeline run on a stack needs,
 * computed from each component's `permissions()`, the config file, the
 * pinned plugins and the pipeline module's own local imports.
 * @module
 */
import type { Command } from "commander";
import { relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { PermissionNeeds } from "../../kernel/component.ts";
import { configPath, type FlowymlConfig } from "../../kernel/config.ts";
import { ConfigError } from "../../kernel/errors.ts";
import { sha256Hex } from "../../kernel/hash.ts";
import {
  importHostOf,
  type MergedNeeds,
  mergeNeeds,
  PERMISSION_KINDS,
  type PermissionKind,
  toDenoFlags,
  toPermissionSet,
} from "../../kernel/permissions.ts";
import { toSpecifier } from "../../kernel/registry.ts";
import { walkModuleGraph } from "../integrity.ts";
import { type Lockfile, lockfilePath, sourceModule } from "../lockfile.ts";
import { loadProject } from "../_common.ts";
import { parsePluginConfig } from "../../kernel/sandbox/grants.ts";
import { pluginPermissions } from "../../kernel/sandbox/permissions.ts";
import { installRoot } from "../install.ts";
import { type PermissionReason, planComponentNeeds, type RunLock, writeRunLock } from "../plan.ts";

export { installConfig, installRoot, projectStateDir } from "../install.ts";
export type { PermissionReason } from "../plan.ts";

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
}

/** Environment variables the flowyml CLI itself may read in the pipeline process. */
export const CLI_ENV = ["FLOWYML_CONFIG", "FLOWYML_HOME"];

function rel(path: string): string {
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
  if (options.pipeline) {
    const p = await pipelineNeeds(options.pipeline);
    pipelineRemote = p.remote;
    reasons.push({ by: `pipeline ${options.pipeline}`, needs: p.needs });
  }
  if (options.extra) reasons.push({ by: "--grant", needs: options.extra });
  const needs = mergeNeeds(reasons.map((r) => r.needs));
  return { needs, reasons, flags: toDenoFlags(needs, { noPrompt: true }), pipelineRemote };
}

/** Needs known without running any component: the config, the CLI, the pinned and WASM plugins. */
async function staticNeeds(config: FlowymlConfig, lock: Lockfile): Promise<PermissionReason[]> {
  const reasons: PermissionReason[] = [];
  const cfgFile = config.path ?? configPath();
  const lockPath = lockfilePath(config);
  // Both are read even when missing (a missing file is not an error).
  const read = [rel(resolve(cfgFile)), rel(lockPath)];
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
    const root = sourceModule(lockPath, rec.source);
    const imp = new Set<string>();
    const readMods: string[] = [];
    for (const key of Object.keys(rec.modules ?? { [root]: "" })) {
      const host = importHostOf(key);
      if (host) imp.add(host);
      else if (key.startsWith("./") || key.startsWith("/") || key.startsWith("file:")) {
        const abs = key.startsWith("./")
          ? fileURLToPath(new URL(key, root))
          : key.replace(/^file:\/\//, "");
        readMods.push(rel(abs));
      }
    }
    reasons.push({ by: `plugin ${rec.source}`, needs: { import: [...imp], read: readMods } });
  }
  for (const [name, raw] of Object.entries(config.plugins)) {
    const cfg = parsePluginConfig(name, raw, config.path);
    reasons.push({ by: `WASM plugin "${name}"`, needs: pluginPermissions(cfg) });
  }
  return reasons;
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
): Promise<{ needs: PermissionNeeds; remote: Record<string, string> }> {
  const root = installRoot();
  const spec = toSpecifier(file);
  const graph = await walkModuleGraph(spec, {
    // flowyml's own modules are loaded by the CLI before the pipeline.
    skip: (u) => u !== spec && isFlowymlSource(u, root),
  });
  const read: string[] = [];
  const imp: string[] = [];
  const remote: Record<string, string> = {};
  for (const [url, bytes] of graph) {
    if (url.startsWith("file:")) read.push(rel(fileURLToPath(url)));
    else if (importHostOf(url)) {
      imp.push(importHostOf(url)!);
      remote[url] = sha256Hex(bytes);
    }
  }
  return { needs: { read, import: imp }, remote };
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

/** Register `flowyml permissions`. */
export function registerPermissionsCommand(program: Command): void {
  program.command("permissions")
    .description("print the minimal `deno run` permission flags a stack (and pipeline) needs")
    .argument("[pipeline]", "pipeline module, so its local imports are readable")
    .option("-s, --stack <name>", "stack from flowyml.yaml (default: default_stack, else local)")
    .option("--format <format>", "flags | deno-json | json", "flags")
    .option("--explain", "also list who needs what")
    .action(
      async (
        pipeline: string | undefined,
        flags: { stack?: string; format: string; explain?: boolean },
      ) => {
        // Verified, not imported: their code runs only in the planner process.
        const { config, lock } = await loadProject({ load: false });
        const stackName = flags.stack ?? config.default_stack ?? "local";
        const p = await computePermissions(config, stackName, { pipeline, lock });
        if (flags.explain) {
          for (const r of p.reasons) {
            const parts = PERMISSION_KINDS.filter((k) => r.needs[k]?.length).map((k) =>
              `${k}: ${r.needs[k]!.join(", ")}`
            );
            console.log(`# ${r.by}: ${parts.join("; ")}`);
          }
        }
        if (flags.format === "flags") {
          console.log(p.flags.join(" "));
          if (flags.explain) {
            const main = installRoot()
              ? rel(resolve(installRoot()!, "cli/main.ts"))
              : "cli/main.ts";
            console.log(
              `# e.g.: deno run ${p.flags.join(" ")} ${main} run --inherit-permissions ${
                pipeline ?? "<pipeline.ts>"
              }`,
            );
          }
        } else if (flags.format === "deno-json") {
          const set = toPermissionSet(p.needs);
          for (const k of ["read", "write"]) {
            if (Array.isArray(set[k])) set[k] = (set[k] as string[]).map((x) => resolve(x));
          }
          console.log(JSON.stringify({ permissions: { flowyml: set } }, null, 2));
        } else if (flags.format === "json") {
          console.log(
            JSON.stringify(
              { stack: stackName, flags: p.flags, needs: p.needs, reasons: p.reasons },
              null,
              2,
            ),
          );
        } else {
          throw new ConfigError(`--format ${flags.format} is unknown`, {
            hint: "use flags, deno-json or json",
          });
        }
      },
    );
}
