/**
 * The least-privilege launcher: the one place that starts a pipeline process
 * holding only the permissions its stack needs. It loads the project without
 * importing any locked component module, plans the permissions (cli/_needs.ts,
 * cli/plan.ts), writes the frozen Deno lockfile of the run, starts the limits
 * supervisor (cli/limits_supervisor.ts), spawns `deno run` with exactly the
 * computed flags (over a cleared environment when the child's code enumerates
 * it, cli/child_env.ts), forwards SIGINT/SIGTERM and waits.
 *
 * `flowyml run` calls {@linkcode launchRun}; any other command starting a
 * least-privilege child (`flowyml worker`) calls {@linkcode launchChild}.
 * This module loads neither flowyml's API (`mod.ts`) nor the sandbox runtime:
 * the parent of a run only plans and spawns, so it stays light.
 * @module
 */
import { fileURLToPath, resolve } from "../kernel/_path.ts";
import type { PermissionNeeds } from "../kernel/component.ts";
import { configPath, type FlowymlConfig, loadConfig, stackNameOf } from "../kernel/config.ts";
import { loadPersistedComponents, type Lockfile } from "../kernel/lock.ts";
import { exitIfStopped, forwardStopSignals } from "./signals.ts";
import { installConfig, nodeModulesReady, projectStateDir, runnableDeno } from "./install.ts";
import { prepareWasmPlugins, type RunLock, writeRunLock } from "./plan.ts";
import { newJsonMarker, splitJsonStdout } from "./json_stdout.ts";
import { clearedEnv, usesQueue } from "./child_env.ts";
import { type LimitsSupervisor, startLimitsSupervisor } from "./limits_supervisor.ts";
import { type ProjectImportMap, projectImports, writeProjectImportMap } from "./project_imports.ts";
import { pinPipelinePackages } from "./pipeline_packages.ts";
import { type ComputedPermissions, computePermissions, parseGrants } from "./_needs.ts";
import type { RunFlags } from "./_run_here.ts";

// What the commands that start a least-privilege child use, beside launchChild.
export { computePermissions, parseGrants } from "./_needs.ts";
export { installRoot, runnableDeno } from "./install.ts";

/** The entry module of the least-privilege child of `flowyml run`. */
const RUN_MAIN = new URL("./run_main.ts", import.meta.url);

/** What `flowyml run` passes the launcher: its command-line options, less the internal ones. */
export type LaunchRunFlags = Pick<
  RunFlags,
  "stack" | "param" | "cache" | "concurrency" | "quiet" | "json" | "grant" | "showFlags"
>;

/**
 * Load the project for a launch: the config and the lockfile, whose locked
 * component modules are verified against their pins but never imported here
 * (their code runs only in the planner and in the child).
 */
export async function loadLaunchProject(): Promise<{ config: FlowymlConfig; lock: Lockfile }> {
  const config = await loadConfig(configPath());
  const lock = await loadPersistedComponents(config, { load: false });
  return { config, lock };
}

/**
 * `flowyml run <file>` in a least-privilege child: `false` when this process
 * may not start deno (the caller then runs the pipeline in this process).
 */
export async function launchRun(file: string, flags: LaunchRunFlags): Promise<boolean> {
  const exe = runnableDeno();
  if (!exe) return false;
  const { config, lock } = await loadLaunchProject();
  const stack = stackNameOf(config, flags.stack);
  // --json: the child's stdout goes to stderr up to a marker line; the result after it to stdout.
  const marker = flags.json ? newJsonMarker() : undefined;
  const end = await launchChild(exe, {
    config,
    lock,
    stack,
    pipeline: file,
    grants: parseGrants(flags.grant),
    // BullMQ enumerates the environment: a queue stack's child gets --allow-env over a cleared
    // environment holding only the granted variables (as `flowyml worker`'s child).
    clearEnv: usesQueue(config, stack),
    main: fileURLToPath(RUN_MAIN),
    args: (runLock) => runMainArgs(file, { flags, stack, runLock, marker }),
    showFlags: flags.showFlags,
    quiet: flags.quiet || flags.json,
    jsonMarker: marker,
  });
  exitIfStopped(end);
  return true;
}

/**
 * The arguments of cli/run_main.ts: the pipeline and the run's options, read there by
 * `parseRunArgs` (cli/run_options.ts). Values go as `--name=value`, so one starting with `-`
 * stays a value.
 */
function runMainArgs(
  file: string,
  o: { flags: LaunchRunFlags; stack: string; runLock?: RunLock; marker?: string },
): string[] {
  const args = [file.startsWith("-") ? `./${file}` : file, `--stack=${o.stack}`];
  if (o.runLock) args.push(`--run-lock=${o.runLock.path}`);
  for (const p of o.flags.param ?? []) args.push(`--param=${p}`);
  if (!o.flags.cache) args.push("--no-cache");
  if (o.flags.concurrency) args.push(`--concurrency=${o.flags.concurrency}`);
  if (o.flags.quiet) args.push("--quiet");
  if (o.marker) args.push("--json", `--json-marker=${o.marker}`);
  return args;
}

/** What {@linkcode launchChild} starts. */
export interface LaunchOptions {
  /** The loaded config and its verified (not imported) lockfile. */
  config: FlowymlConfig;
  lock: Lockfile;
  /** The stack the child runs on. */
  stack: string;
  /** The pipeline module, whose own imports the child may read (and its remote ones load). */
  pipeline?: string;
  /**
   * Without a pipeline: a file of the project whose `deno.json` import map the child uses (a
   * queue worker imports the project's pipelines as jobs name them).
   */
  importsFrom?: string;
  /** Extra grants (`--grant`). */
  grants?: PermissionNeeds;
  /** `--allow-env` over a cleared environment holding only the granted variables. */
  clearEnv?: boolean;
  /** The module the child runs (a path, or a URL when flowyml does not run from files). */
  main: string;
  /** Its arguments, once the run's frozen lockfile is known. */
  args: (runLock: RunLock | undefined) => string[];
  /** Print the child's command on stderr before starting it. */
  showFlags?: boolean;
  /** No warnings about WASM plugins that could not be prepared. */
  quiet?: boolean;
  /** The child prints this line before its JSON result: stdout up to it goes to stderr. */
  jsonMarker?: string;
}

/**
 * Start `options.main` in a child `deno run` holding exactly the permissions
 * computed for the stack, under the run's frozen lockfile, and wait for it.
 * Resolves to its exit code and the stop signal it was sent, if any (the
 * process exit code is set when the child failed).
 */
export async function launchChild(
  exe: string,
  options: LaunchOptions,
): Promise<{ code: number; sig?: string }> {
  const { config, lock } = options;
  // The planner of locked component modules runs under the plugins' frozen lockfile.
  const pluginLock = lock.components.length ? await writeRunLock(config, lock) : undefined;
  // Deno refuses the child /sys and /proc/<pid>: this process puts its plugin processes in
  // their cgroups for it, asked over a private socket (cli/limits_supervisor.ts).
  // Only WASM plugins (the `plugins:` of flowyml.yaml) start processes to put under limits.
  const limits = Object.keys(config.plugins).length
    ? await startLimitsSupervisor(projectStateDir(config))
    : undefined;
  let imports: ProjectImportMap | undefined;
  try {
    // The pipeline resolves what its own project's deno.json maps (cli/project_imports.ts): read
    // once, for the permissions (the modules it maps) and for the child's import map.
    const mapFrom = options.pipeline ?? options.importsFrom;
    const project = mapFrom ? await projectImports(mapFrom) : undefined;
    const perms = await computePermissions(config, options.stack, {
      pipeline: options.pipeline,
      lock,
      extra: options.grants,
      runLock: pluginLock,
      limits: limits?.needs,
      projectImports: project ?? null,
    });
    if (project) imports = await writeProjectImportMap(project);
    // A frozen lockfile: Deno checks every remote module and npm tarball the child
    // loads against it, and refuses any module it does not pin (a computed import()).
    let runLock = await writeRunLock(config, lock, { remote: perms.pipelineRemote });
    if (runLock && options.pipeline) {
      runLock = await pinPipelinePackages(runLock, {
        exe,
        pipeline: options.pipeline,
        packages: perms.pipelinePackages,
        importMap: imports?.path,
        dir: resolve(projectStateDir(config), "locks"),
      });
    }
    // The child may only read the plugin cache: prepare the WASM plugins here.
    await prepareWasmPlugins(config, { quiet: options.quiet });
    return await spawnChild(exe, { options, perms, runLock, limits, imports });
  } finally {
    await imports?.remove();
    await limits?.close();
  }
}

/**
 * V8's young generation starts at 16 MiB instead of 1 MiB: the child's start-up (loading flowyml
 * and the pipeline, ≈ 5 MiB) then needs no scavenge (≈ 4 ms of a cold run). Its pages are
 * committed as they are used: the resident size of a 1-step run does not change.
 */
const CHILD_V8_FLAGS = "--v8-flags=--min-semi-space-size=16";

/** The child's `deno run` arguments and environment. */
async function childCommand(
  plan: {
    options: LaunchOptions;
    perms: ComputedPermissions;
    runLock?: RunLock;
    imports?: ProjectImportMap;
  },
  limits: LimitsSupervisor | undefined,
): Promise<{ args: string[]; env?: Record<string, string>; clearEnv: boolean }> {
  const { options, perms, runLock } = plan;
  const cleared = options.clearEnv ? clearedEnv(perms.flags, perms.needs.env) : undefined;
  if (cleared) Object.assign(cleared.env, limits?.env);
  const args = ["run", ...cleared?.flags ?? perms.flags, CHILD_V8_FLAGS];
  const cfg = await installConfig();
  if (cfg) args.push(`--config=${cfg}`);
  if (plan.imports) args.push(`--import-map=${plan.imports.path}`);
  if (cfg && childNodeModulesReady(options.lock, perms)) args.push("--node-modules-dir=manual");
  if (runLock) args.push(...runLock.flags);
  args.push(options.main, ...options.args(runLock));
  return { args, env: cleared?.env ?? limits?.env, clearEnv: !!cleared };
}

/** {@linkcode nodeModulesReady}, and the pipeline brings no npm package of its own either. */
function childNodeModulesReady(lock: Lockfile, perms: ComputedPermissions): boolean {
  return nodeModulesReady(lock) && perms.pipelinePackages.length === 0;
}

/** Spawn the planned child, forward stop signals to it and wait for it. */
async function spawnChild(
  exe: string,
  plan: {
    options: LaunchOptions;
    perms: ComputedPermissions;
    runLock?: RunLock;
    limits?: LimitsSupervisor;
    imports?: ProjectImportMap;
  },
): Promise<{ code: number; sig?: string }> {
  const { args, env, clearEnv } = await childCommand(plan, plan.limits);
  const marker = plan.options.jsonMarker;
  if (plan.options.showFlags) console.error(`$ ${exe} ${args.join(" ")}`);
  const child = new Deno.Command(exe, {
    args,
    env,
    clearEnv,
    stdin: "inherit",
    stdout: marker ? "piped" : "inherit",
    stderr: "inherit",
  }).spawn();
  plan.limits?.watch(child.pid);
  const forwarded = forwardStopSignals(child); // the child dies with this process
  const json = marker ? splitJsonStdout(child.stdout, marker) : undefined;
  const status = await child.status;
  if (json) await Deno.stdout.write(new TextEncoder().encode(await json));
  const sig = forwarded();
  if (!status.success) Deno.exitCode = status.code || 1;
  return { code: status.code, sig: sig || undefined };
}

/**
 * Why a run stays in this process, and the exact flag that changes it: WASM plugin steps run
 * in a plugin host process started from this deno binary, so they need it as well.
 */
export function inProcessNote(): string {
  const flag = `--allow-run=${Deno.execPath()}`;
  return `note: running in this process with its own permissions, since it may not start deno; ` +
    `start flowyml with ${flag} to run the pipeline in a child holding only the computed flags ` +
    `(WASM plugin steps need ${flag} in any case: each plugin runs in its own deno process)`;
}
