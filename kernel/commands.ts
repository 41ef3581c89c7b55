/**
 * Command hooks: how a built-in plugin contributes `flowyml` commands and
 * `flowyml compile` targets without the CLI importing the plugin, and
 * without the plugin importing the CLI.
 *
 * A plugin's `register.ts` declares a {@linkcode CommandHook} (a name and a
 * loader); the CLI lists the hooks, and loads a hook's module only when its
 * command runs or for `--help`. The module registers its commands on the
 * CLI's commander program and gets everything it needs from the CLI through
 * {@linkcode CliServices}. The kernel does not depend on commander: the
 * program is passed as `unknown` and the module types it itself.
 *
 * ```ts
 * import { registerCommand } from "./commands.ts";
 *
 * registerCommand({
 *   name: "hello",
 *   description: "say hello",
 *   load: () => Promise.resolve({ register() {} }),
 * });
 * ```
 * @module
 */
import type { FlowymlConfig } from "./config.ts";
import type { Pipeline } from "./pipeline.ts";
import type { Stack } from "./stack.ts";

/** What the CLI hands to a plugin's command module: the parts of the CLI it may use. */
export interface CliServices {
  /** Load the project and build a stack (default: `default_stack`, else `local`). */
  openStack(name?: string): Promise<{ config: FlowymlConfig; stack: Stack }>;
  /** Import a pipeline module (checked, with a clear error) and return its pipeline. */
  importPipeline(file: string): Promise<Pipeline>;
  /** `k=v` pairs (`--param`) as run parameters. */
  parseParams(pairs?: string[]): Record<string, unknown>;
  /** An aligned text table. */
  table(head: string[], rows: string[][]): string;
  /** Milliseconds as a short human string (`850 ms`, `2.10 s`; `-` when unknown). */
  ms(n: number | undefined): string;
  /**
   * Run `flowyml <args>` in a least-privilege child process, as `flowyml run`
   * runs a pipeline: only the stack's computed permissions, read access to
   * the project folder, the `grants` (`kind=resource`), the frozen lockfile
   * and a cleared environment; stop signals are forwarded. Resolves to
   * `false` without starting anything when this process may not start one
   * (no `--allow-run` for deno): the caller then runs in-process.
   */
  runInChild(options: ChildCommandOptions): Promise<boolean>;
}

/** Options of {@linkcode CliServices.runInChild}. */
export interface ChildCommandOptions {
  /** The command and its arguments, e.g. `["worker", "--inherit-permissions"]`. */
  args: string[];
  /** Stack name (default: the project's `default_stack`, else `local`); passed as `--stack`. */
  stack?: string;
  /** Extra permissions of the child, `kind=resource` (`--grant`). */
  grants?: string[];
  /** Print the child's `deno run` command on stderr before starting it. */
  showFlags?: boolean;
}

/** A command module: registers its commands on the CLI program. */
export interface CommandModule {
  /**
   * Register the commands on `program` (a commander `Command`; typed
   * `unknown` so that the kernel does not depend on commander).
   */
  register(program: unknown, services: CliServices): void | Promise<void>;
}

/** A top-level `flowyml` command contributed by a plugin. */
export interface CommandHook {
  /** The command name, e.g. `worker`. */
  name: string;
  /** Other top-level names the module registers, e.g. `workers`. */
  aliases?: string[];
  /** One line, for listings. */
  description: string;
  /** Load the module (only when the command runs, or for `--help`). */
  load(): Promise<CommandModule>;
}

/** A flag a compile target adds to `flowyml compile`. */
export interface CompileOption {
  /** Commander flags, e.g. `--dag-id <id>`. */
  flags: string;
  /** Help text. */
  description: string;
}

/** What `flowyml compile` hands to a target. */
export interface CompileRequest {
  /** The `--target` asked for (a hook may serve several, e.g. `vertex` and `kfp`). */
  target: string;
  /** The image every step runs in. */
  image: string;
  /** The stack name the steps use inside the image. */
  stack: string;
  /** The pipeline module's path inside the image. */
  pipelinePath: string;
  /** The CLI entry point inside the image. */
  cli: string;
  /** Run parameters (`--param`). */
  params: Record<string, unknown>;
  /** Every flag of the command, including the target's own {@linkcode CompileOption}s. */
  flags: Record<string, unknown>;
}

/** A compile target module: writes a pipeline as another orchestrator's document. */
export interface CompileTargetModule {
  /** The document's text (a DAG file, a JSON PipelineSpec…). */
  compileTarget(pipeline: Pipeline, request: CompileRequest): string | Promise<string>;
}

/** `flowyml compile --target NAME`, contributed by a plugin. */
export interface CompileTargetHook {
  /** Target names, e.g. `["vertex", "kfp"]`. */
  targets: string[];
  /** Flags this target adds to `flowyml compile`. */
  options?: CompileOption[];
  /** Load the module (only when compiling for one of its targets). */
  load(): Promise<CompileTargetModule>;
}

const commandHooks = new Map<string, CommandHook>();
const compileHooks: CompileTargetHook[] = [];

/** Declare a plugin command; the first hook of a name wins (registration is idempotent). */
export function registerCommand(hook: CommandHook): void {
  if (!commandHooks.has(hook.name)) commandHooks.set(hook.name, hook);
}

/** The plugin commands, in registration order. */
export function commands(): CommandHook[] {
  return [...commandHooks.values()];
}

/** Declare a compile target; a target name already declared is kept. */
export function registerCompileTarget(hook: CompileTargetHook): void {
  const known = new Set(compileHooks.flatMap((h) => h.targets));
  if (hook.targets.some((t) => known.has(t))) return;
  compileHooks.push(hook);
}

/** The compile targets, in registration order. */
export function compileTargets(): CompileTargetHook[] {
  return [...compileHooks];
}
