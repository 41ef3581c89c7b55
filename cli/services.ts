/**
 * The CLI's side of the command hooks (kernel/commands.ts): the
 * {@linkcode CliServices} object handed to a plugin's command module. A thin
 * adapter over the CLI's own modules, so that plugin commands never import
 * `cli/` and a change to the CLI's internals (the least-privilege launcher…)
 * only has to touch this file.
 * @module
 */
import { dirname, relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { ChildCommandOptions, CliServices } from "../kernel/commands.ts";
import { importPipeline, loadProject, ms, openStack, parseParams, table } from "./_common.ts";
import { runnableDeno } from "./install.ts";
import { lockfilePath } from "./lockfile.ts";
import { prepareWasmPlugins, writeRunLock } from "./plan.ts";
import { forwardStopSignals } from "./signals.ts";
import { clearedEnv } from "./child_env.ts";
import {
  computePermissions,
  installConfig,
  parseGrants,
  projectStateDir,
} from "./commands/permissions.ts";
import { startLimitsSupervisor } from "./limits_supervisor.ts";

/** The entry point a child runs: the plugin commands and `runs resume`, as in the CLI. */
const CHILD_MAIN = fileURLToPath(new URL("./worker_main.ts", import.meta.url));

/** The services of this CLI. */
export function cliServices(): CliServices {
  return { openStack, importPipeline, parseParams, table, ms, runInChild };
}

/** {@linkcode CliServices.runInChild}: plan the child's permissions, start it, wait for it. */
async function runInChild(options: ChildCommandOptions): Promise<boolean> {
  const exe = runnableDeno();
  if (!exe) return false;
  const { config, lock } = await loadProject({ load: false });
  const stack = options.stack ?? config.default_stack ?? "local";
  const grants = parseGrants(options.grants);
  const project = relative(Deno.cwd(), dirname(lockfilePath(config))) || ".";
  const extra = { ...grants, read: [...grants.read ?? [], project] };
  const runLock = await writeRunLock(config, lock);
  // This process puts the child's plugin processes in their cgroups (Deno refuses it /sys).
  const limits = await startLimitsSupervisor(projectStateDir(config));
  try {
    const perms = await computePermissions(config, stack, {
      lock,
      extra,
      runLock,
      limits: limits?.needs,
    });
    await prepareWasmPlugins(config);
    const cfg = await installConfig();
    // The child gets a cleared environment holding only the granted variables (and Deno's
    // own), so that --allow-env for all of it is access to exactly the grant.
    const { flags: allow, env } = clearedEnv(perms.flags, perms.needs.env);
    Object.assign(env, limits?.env);
    const args = ["run", ...allow, ...(cfg ? [`--config=${cfg}`] : []), ...runLock?.flags ?? []];
    args.push(CHILD_MAIN, ...options.args, "--stack", stack);
    if (options.showFlags) console.error(`$ ${exe} ${args.join(" ")}`);
    const child = new Deno.Command(exe, {
      args,
      env,
      clearEnv: true,
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    limits?.watch(child.pid);
    const unforward = forwardStopSignals(child);
    const status = await child.status;
    unforward();
    if (!status.success) Deno.exitCode = status.code || 1;
    return true;
  } finally {
    await limits?.close();
  }
}
