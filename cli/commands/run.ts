/**
 * `flowyml run <pipeline.ts>`: run a pipeline module on a stack.
 *
 * By default the pipeline runs in a child `deno run` holding exactly the
 * permissions computed for the stack (see `flowyml permissions`), so the
 * pipeline's code and the trusted plugins cannot touch what the stack does
 * not need. `--inherit-permissions` runs it in this process instead.
 * @module
 */
import { type Command, Option } from "commander";
import "../../mod.ts"; // preload flowyml's API: the pipeline's `import "flowyml"` needs no read grant
import { FlowymlError, isPermissionError } from "../../kernel/errors.ts";
import { parsePermissionMessage } from "../../kernel/permissions.ts";
import { buildStack, type Stack } from "../../kernel/stack.ts";
import type { RunEvent, RunResult } from "../../kernel/contracts.ts";
import { forwardStopSignals, SIGNAL_EXIT, watchStopSignals } from "../signals.ts";
import { checkPipelineFile, importPipeline, loadProject, parseParams } from "../_common.ts";
import { type Lockfile, lockfilePath, sourceModule } from "../lockfile.ts";
import { runnableDeno } from "../install.ts";
import { explainUnpinnedImport, prepareWasmPlugins, writeRunLock } from "../plan.ts";
import { createProgress } from "../progress.ts";
import { consoleToStderr, newJsonMarker, splitJsonStdout } from "../json_stdout.ts";
import { renderRunSummary } from "../summary.ts";
import {
  computePermissions,
  installConfig,
  installRoot,
  parseGrants,
  projectStateDir,
} from "./permissions.ts";
import { clearedEnv, usesQueue } from "../child_env.ts";
import { startLimitsSupervisor } from "../limits_supervisor.ts";

/** Options of the run command. */
interface RunFlags {
  stack?: string;
  param?: string[];
  cache: boolean;
  concurrency?: string;
  quiet?: boolean;
  json?: boolean;
  inheritPermissions?: boolean;
  grant?: string[];
  showFlags?: boolean;
  verifiedPlugins?: boolean;
  runLock?: string;
  jsonMarker?: string;
}

/** Register `flowyml run`. */
export function registerRunCommand(program: Command): void {
  program
    .command("run")
    .description("run a pipeline module (its default export, or `pipeline`) on a stack")
    .argument("<pipeline>", "pipeline module, e.g. examples/demo/pipeline.ts")
    .option("-s, --stack <name>", "stack from flowyml.yaml (default: default_stack, else local)")
    .option(
      "-p, --param <k=v>",
      "run parameter; repeatable; values parse as JSON when they can",
      collect,
      [],
    )
    .option("--no-cache", "ignore the step cache for this run")
    .option("-c, --concurrency <n>", "max steps running at once")
    .option("-q, --quiet", "no live progress")
    .option("--json", "print the result as JSON")
    .option(
      "--inherit-permissions",
      "run in this process with its permissions, not in a least-privilege child",
    )
    .option(
      "-g, --grant <kind=resource>",
      "extra permission for the child, e.g. env=TOKEN; repeatable",
      collect,
      [],
    )
    .option("--show-flags", "print the child's `deno run` command before running it")
    .addOption(
      new Option("--verified-plugins", "internal: the parent already verified the plugins")
        .hideHelp(),
    )
    .addOption(
      new Option("--run-lock <path>", "internal: the frozen Deno lockfile the child runs under")
        .hideHelp(),
    )
    .addOption(
      new Option("--json-marker <line>", "internal: the line printed before the JSON result")
        .hideHelp(),
    )
    .action(async (file: string, flags: RunFlags) => {
      await checkPipelineFile(file); // before any integrity check tries to fetch it
      if (flags.inheritPermissions) return await runHere(file, flags);
      const exe = runnableDeno();
      if (exe) return await runInChild(exe, file, flags);
      // This process may not start deno: the flags it was started with are the
      // boundary (they cannot be widened from here), so run in this process.
      if (!flags.quiet && !flags.json) console.error(inProcessNote());
      await runHere(file, flags);
    });
}

/**
 * Why the run stays in this process, and the exact flag that changes it: WASM plugin steps run
 * in a plugin host process started from this deno binary, so they need it as well.
 */
function inProcessNote(): string {
  const flag = `--allow-run=${Deno.execPath()}`;
  return `note: running in this process with its own permissions, since it may not start deno; ` +
    `start flowyml with ${flag} to run the pipeline in a child holding only the computed flags ` +
    `(WASM plugin steps need ${flag} in any case: each plugin runs in its own deno process)`;
}

/** Run the pipeline in this process. */
async function runHere(file: string, flags: RunFlags): Promise<void> {
  const { config, lock } = await loadProject({ verify: !flags.verifiedPlugins });
  const ctx = {
    lock,
    lockPath: lockfilePath(config),
    pipeline: file,
    child: !!flags.verifiedPlugins,
  };
  let stack;
  let result;
  // SIGINT/SIGTERM cancel the run; the child of `flowyml run` also stops when its parent dies.
  const stop = watchStopSignals({ watchParent: ctx.child });
  // --json: stdout holds the result alone; step logs and prints go to stderr.
  const restoreConsole = flags.json ? consoleToStderr() : undefined;
  try {
    const pipeline = await importPipeline(file);
    stack = await buildStack(config, flags.stack ?? config.default_stack ?? "local");
    result = await pipeline.run({
      stack,
      params: parseParams(flags.param),
      cache: flags.cache,
      concurrency: flags.concurrency ? Number(flags.concurrency) : undefined,
      onEvent: flags.json ? logToStderr : flags.quiet ? undefined : createProgress(),
      loadOutputs: false, // the summary comes from the metadata store
    });
  } catch (err) {
    stop.dispose();
    restoreConsole?.();
    await stack?.close();
    throw explainRunPermission(err, ctx) ?? explainUnpinnedImport(err, flags.runLock) ?? err;
  }
  stop.dispose();
  restoreConsole?.();
  if (result.status === "cancelled" || stop.reason) {
    return await exitCancelled(result, { stack, flags, code: stop.exitCode || 1 });
  }
  if (flags.json) {
    printResult(result, flags, 2);
  } else {
    console.log("\n" + await renderRunSummary(stack.metadataStore, result.runId));
  }
  await stack.close();
  if (result.status !== "completed") {
    const why = explainRunPermission(result.error, ctx) ??
      explainUnpinnedImport(result.error, flags.runLock);
    if (why) console.error(`error: ${why.message}`);
    Deno.exitCode = 1;
  }
}

/** Run the pipeline in a child `deno run` holding exactly the computed permissions. */
async function runInChild(exe: string, file: string, flags: RunFlags): Promise<void> {
  // Bad grants fail before the child starts. The locked component modules are
  // verified, never imported here: their code runs only in the planner and the child.
  const { config, lock } = await loadProject({ load: false });
  const stackName = flags.stack ?? config.default_stack ?? "local";
  const extra = parseGrants(flags.grant);
  const pluginLock = lock.components.length ? await writeRunLock(config, lock) : undefined;
  // Deno refuses the child /sys and /proc/<pid>: this process puts its plugin processes in
  // their cgroups for it, asked over a private socket (cli/limits_supervisor.ts).
  const limits = await startLimitsSupervisor(projectStateDir(config));
  let end;
  try {
    end = await spawnChild(exe, file, {
      flags,
      config,
      lock,
      stackName,
      extra,
      pluginLock,
      limits,
    });
  } finally {
    await limits?.close();
  }
  if (end.sig) Deno.exit(end.code || SIGNAL_EXIT[end.sig as keyof typeof SIGNAL_EXIT]);
}

/** What {@linkcode spawnChild} plans the child from. */
interface ChildPlan {
  flags: RunFlags;
  config: Awaited<ReturnType<typeof loadProject>>["config"];
  lock: Lockfile;
  stackName: string;
  extra: ReturnType<typeof parseGrants>;
  pluginLock: Awaited<ReturnType<typeof writeRunLock>>;
  limits: Awaited<ReturnType<typeof startLimitsSupervisor>>;
}

/** Plan the child's flags, start it and wait for it: its exit code and the stop signal it got. */
async function spawnChild(
  exe: string,
  file: string,
  plan: ChildPlan,
): Promise<{ code: number; sig?: string }> {
  const { flags, config, lock, stackName, extra, pluginLock, limits } = plan;
  const perms = await computePermissions(config, stackName, {
    pipeline: file,
    lock,
    extra,
    runLock: pluginLock,
    limits: limits?.needs,
  });
  // BullMQ enumerates the environment: a queue stack's child gets --allow-env over a cleared
  // environment holding only the granted variables (as `flowyml worker`'s child).
  const cleared = usesQueue(config, stackName)
    ? clearedEnv(perms.flags, perms.needs.env)
    : undefined;
  if (cleared) Object.assign(cleared.env, limits?.env);
  const args = ["run", ...cleared?.flags ?? perms.flags];
  const cfg = await installConfig();
  if (cfg) args.push(`--config=${cfg}`);
  // A frozen lockfile: Deno checks every remote module and npm tarball the child
  // loads against it, and refuses any module it does not pin (a computed import()).
  const runLock = await writeRunLock(config, lock, { remote: perms.pipelineRemote });
  if (runLock) args.push(...runLock.flags);
  // The child may only read the plugin cache: prepare the WASM plugins here.
  await prepareWasmPlugins(config, { quiet: flags.quiet || flags.json });
  const main = new URL("../main.ts", import.meta.url);
  args.push(
    main.protocol === "file:" ? main.pathname : main.href,
    "run",
    file,
    "--inherit-permissions",
  );
  args.push("--verified-plugins", "--stack", stackName);
  if (runLock) args.push("--run-lock", runLock.path);
  for (const p of flags.param ?? []) args.push("--param", p);
  if (!flags.cache) args.push("--no-cache");
  if (flags.concurrency) args.push("--concurrency", flags.concurrency);
  if (flags.quiet) args.push("--quiet");
  // --json: the child's stdout goes to stderr up to a marker line; the result after it to stdout.
  const marker = flags.json ? newJsonMarker() : undefined;
  if (marker) args.push("--json", "--json-marker", marker);
  if (flags.showFlags) console.error(`$ ${exe} ${args.join(" ")}`);
  const child = new Deno.Command(exe, {
    args,
    ...(cleared ? { env: cleared.env, clearEnv: true } : { env: limits?.env }),
    stdin: "inherit",
    stdout: marker ? "piped" : "inherit",
    stderr: "inherit",
  }).spawn();
  limits?.watch(child.pid);
  const forwarded = forwardStopSignals(child); // the child dies with this process
  const json = marker ? splitJsonStdout(child.stdout, marker) : undefined;
  const status = await child.status;
  if (json) await Deno.stdout.write(new TextEncoder().encode(await json));
  const sig = forwarded();
  if (!status.success) Deno.exitCode = status.code || 1;
  return { code: status.code, sig: sig || undefined };
}

/** A cancelled run: one line on stderr (and the JSON result), then exit 130/143. */
async function exitCancelled(
  result: RunResult,
  options: { stack: Stack; flags: RunFlags; code: number },
): Promise<never> {
  if (options.flags.json) printResult(result, options.flags);
  console.error(
    `flowyml: ${result.runId}: ${result.error?.message ?? "run cancelled"}; continue it with ` +
      `\`flowyml runs resume ${result.runId}\``,
  );
  await options.stack.close();
  Deno.exit(options.code);
}

/** The JSON result on stdout, after the parent's marker line when there is one. */
function printResult(result: RunResult, flags: RunFlags, indent?: number): void {
  const { runId, status, steps } = result;
  const text = JSON.stringify({ runId, status, steps, error: result.error?.message }, null, indent);
  console.log(flags.jsonMarker ? `${flags.jsonMarker}\n${text}` : text);
}

/** `--json`: a step's `ctx.log` lines go to stderr. */
function logToStderr(e: RunEvent): void {
  if (e.type === "step_log") console.error(`[${e.step}] ${e.message}`);
}

/** Context for naming who was refused a permission. */
interface RunContext {
  lock: Lockfile;
  lockPath: string;
  pipeline: string;
  /** Running as the least-privilege child of `flowyml run`. */
  child: boolean;
}

/**
 * When `err` (or one of its causes) is a Deno permission error, an error
 * naming the component (from the stack trace), the resource and the exact flag.
 */
export function explainRunPermission(err: unknown, ctx: RunContext): FlowymlError | undefined {
  let e: unknown = err;
  for (let i = 0; e && i < 10 && !isPermissionError(e); i++) e = (e as { cause?: unknown }).cause;
  if (!e || !isPermissionError(e)) return undefined;
  const denied = e as Error;
  const access = parsePermissionMessage(denied.message);
  if (!access) return undefined;
  const who = culprit(denied.stack ?? "", ctx);
  const grant = access.resource ? `${access.kind}=${access.resource}` : access.kind;
  return new FlowymlError(
    `${who} needs ${access.kind} access${access.resource ? ` to "${access.resource}"` : ""}, ` +
      (ctx.child
        ? "which the computed permission set of this run lacks "
        : "which this process lacks ") +
      `(Deno flag ${access.flag})`,
    {
      hint:
        (ctx.child
          ? `run again with \`--grant ${grant}\` (adds ${access.flag} to the pipeline process)`
          : `run again with ${access.flag}`) +
        (who.startsWith("component") ? `; the component should declare it in permissions()` : ""),
      cause: err,
    },
  );
}

function culprit(stack: string, ctx: RunContext): string {
  const frames = [...stack.matchAll(/((?:https?|file):\/\/[^\s)]+?):\d+:\d+/g)].map((m) => m[1]);
  for (const f of frames) {
    for (const rec of ctx.lock.components) {
      const root = sourceModule(ctx.lockPath, rec.source);
      const mods = Object.keys(rec.modules ?? {}).map((k) =>
        k.startsWith("./") ? new URL(k, root).href : k
      );
      if (f === root || mods.includes(f)) {
        const comps = rec.entries.map((x) => `${x.kind} "${x.type}"`).join(", ");
        return `component ${comps} (plugin ${rec.source})`;
      }
    }
    const root = installRoot();
    if (root && f.startsWith(`file://${root}/plugins/`)) {
      return `built-in component code (${f.slice(`file://${root}/`.length)})`;
    }
    if (f === new URL(ctx.pipeline, `file://${Deno.cwd()}/`).href) {
      return `pipeline code in ${ctx.pipeline}`;
    }
  }
  return "the pipeline run";
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}
