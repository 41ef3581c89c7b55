/**
 * `flowyml run` in this process: with `--inherit-permissions`, and as the
 * least-privilege child the launcher starts (cli/run_main.ts). Loads
 * flowyml's API first, so the pipeline's `import "flowyml"` needs no read grant.
 * @module
 */
import "../mod.ts"; // preload flowyml's API: the pipeline's `import "flowyml"` needs no read grant
import { FlowymlError } from "../kernel/errors.ts";
import { permissionCause } from "../kernel/permissions.ts";
import { stackModuleUrls } from "../kernel/code_identity.ts";
import { buildStack, type Stack } from "../kernel/stack.ts";
import type { RunEvent, RunResult } from "../kernel/contracts.ts";
import { type Lockfile, lockfilePath, sourceModule } from "../kernel/lock.ts";
import { watchStopSignals } from "./signals.ts";
import { importPipeline, loadProject, parseParams } from "./_common.ts";
import { explainUnpinnedImport } from "./_unpinned.ts";
import { createProgress } from "./progress.ts";
import { consoleToStderr } from "./json_stdout.ts";
import { renderRunSummary } from "./summary.ts";
import { stackNameOf } from "../kernel/config.ts";

/** Options of a run, as `flowyml run` takes them. */
export interface RunFlags {
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

/** Run the pipeline in this process (`--inherit-permissions`, and the least-privilege child). */
export async function runHere(file: string, flags: RunFlags): Promise<void> {
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
    stack = await buildStack(config, stackNameOf(config, flags.stack));
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
  const found = permissionCause(err);
  if (!found) return undefined;
  const { access } = found;
  const who = culprit(found.error.stack ?? "", ctx);
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

/** Where flowyml's built-in components are, as stack frames spell it (from files or a URL). */
const PLUGINS_URL = new URL("../plugins/", import.meta.url).href;

function culprit(stack: string, ctx: RunContext): string {
  const frames = stackModuleUrls(stack);
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
    if (f.startsWith(PLUGINS_URL)) {
      return `built-in component code (plugins/${decodeURIComponent(f.slice(PLUGINS_URL.length))})`;
    }
    if (f === new URL(ctx.pipeline, `file://${Deno.cwd()}/`).href) {
      return `pipeline code in ${ctx.pipeline}`;
    }
  }
  return "the pipeline run";
}
