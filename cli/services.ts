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
import { importPipeline, ms, openStack, parseParams, table } from "./_common.ts";
import { lockfilePath } from "./lockfile.ts";
import { launchChild, loadLaunchProject, parseGrants, runnableDeno } from "./launcher.ts";
import { stackNameOf } from "../kernel/config.ts";

/** The entry point a child runs: the plugin commands and `runs resume`, as in the CLI. */
const CHILD_MAIN = fileURLToPath(new URL("./worker_main.ts", import.meta.url));

/** The services of this CLI. */
export function cliServices(): CliServices {
  return { openStack, importPipeline, parseParams, table, ms, runInChild };
}

/**
 * {@linkcode CliServices.runInChild}: the least-privilege launcher
 * (cli/launcher.ts) with read access to the project folder (where pipeline
 * modules live) and a cleared environment.
 */
async function runInChild(options: ChildCommandOptions): Promise<boolean> {
  const exe = runnableDeno();
  if (!exe) return false;
  const { config, lock } = await loadLaunchProject();
  const stack = stackNameOf(config, options.stack);
  const grants = parseGrants(options.grants);
  const project = relative(Deno.cwd(), dirname(lockfilePath(config))) || ".";
  await launchChild(exe, {
    config,
    lock,
    stack,
    grants: { ...grants, read: [...grants.read ?? [], project] },
    clearEnv: true,
    // The project's deno.json import map, for the pipelines the child imports.
    importsFrom: lockfilePath(config),
    main: CHILD_MAIN,
    args: () => [...options.args, "--stack", stack],
    showFlags: options.showFlags,
  });
  return true;
}
