/**
 * The `flowyml` command line.
 *
 * ```sh
 * deno task flowyml run examples/demo/pipeline.ts
 * deno task flowyml runs list
 * ```
 *
 * Path of a run: `cli/commands/run.ts` → `cli/launcher.ts` (the child
 * `cli/run_main.ts`) → `kernel/pipeline.ts` (Pipeline.run) → the stack's
 * orchestrator (run hooks) → `kernel/engine.ts` (executeRun) →
 * `kernel/step_attempts.ts` → `kernel/step_runner.ts` → `kernel/artifacts.ts`
 * → the artifact store plugin (docs/architecture.md#the-run-path).
 *
 * Built-in commands are listed below; plugins add theirs (`worker`, `image`…)
 * through command hooks (kernel/commands.ts) and get the CLI's parts through
 * `cli/services.ts`, so no command module imports a plugin.
 * @module
 */
import type { Command } from "commander";
import "../plugins/builtin_types.ts";
import { commands as pluginCommands } from "../kernel/commands.ts";
import { FlowymlError } from "../kernel/errors.ts";
import { lazyImport } from "../kernel/lazy_import.ts";
import { runExitHooks } from "../kernel/lifecycle.ts";
import { parseRunArgs, runAction } from "./run_options.ts";

/**
 * Registers one top-level command (with its subcommands) on the program, a commander `Command`;
 * the command's module is loaded when this is called, not before.
 */
export type Register = (program: Command) => Promise<void>;

/**
 * A CLI module, imported by URL on first use (kernel/lazy_import.ts): a literal `import()` would
 * put it, and every npm package under it, in the start-up module graph, which Deno checks
 * against `node_modules` on every start (≈ 100 ms of each `flowyml` command).
 */
function load<T>(path: string): Promise<T> {
  return lazyImport<T>(new URL(path, import.meta.url));
}

/**
 * The built-in top-level commands and the module that registers each. A
 * command's module (and everything it imports: the UI server, the queue
 * worker, image builds…) is loaded only when that command runs, or for
 * `--help`; {@linkcode commandTable} adds the plugins' commands.
 */
const COMMANDS: Record<string, Register> = {
  run: async (p) =>
    (await load<typeof import("./commands/run.ts")>("./commands/run.ts")).registerRunCommand(p),
  stack: async (p) =>
    (await load<typeof import("./commands/stack.ts")>("./commands/stack.ts")).registerStackCommands(
      p,
    ),
  component: async (p) => {
    (await load<typeof import("./commands/component.ts")>("./commands/component.ts"))
      .registerComponentCommands(p);
  },
  runs: async (p) => {
    const runs = (await load<typeof import("./commands/runs.ts")>("./commands/runs.ts"))
      .registerRunsCommands(p);
    (await load<typeof import("./commands/resume.ts")>("./commands/resume.ts"))
      .registerResumeCommand(runs);
  },
  permissions: async (p) =>
    (await load<typeof import("./commands/permissions.ts")>("./commands/permissions.ts"))
      .registerPermissionsCommand(p),
  plugin: async (p) =>
    (await load<typeof import("./commands/plugin.ts")>("./commands/plugin.ts"))
      .registerPluginCommands(p),
  step: async (p) =>
    (await load<typeof import("./commands/step.ts")>("./commands/step.ts")).registerStepCommands(p),
  compile: async (p) =>
    (await load<typeof import("./commands/compile.ts")>("./commands/compile.ts"))
      .registerCompileCommand(p),
  artifacts: async (p) =>
    (await load<typeof import("./commands/artifacts.ts")>("./commands/artifacts.ts"))
      .registerArtifactsCommands(p),
  ui: async (p) =>
    (await load<typeof import("./commands/ui.ts")>("./commands/ui.ts")).registerUiCommand(p),
};
/**
 * The built-in commands, then each plugin's command hook (a built-in name
 * wins), and the aliases: names a command's module also registers (`workers`).
 */
export function commandTable(): {
  commands: Record<string, Register>;
  aliases: Record<string, string>;
} {
  const commands = { ...COMMANDS };
  const aliases: Record<string, string> = {};
  for (const hook of pluginCommands()) {
    if (Object.hasOwn(commands, hook.name)) continue;
    commands[hook.name] = async (p) => {
      const { cliServices } = await load<typeof import("./services.ts")>("./services.ts");
      await (await hook.load()).register(p, cliServices());
    };
    for (const alias of hook.aliases ?? []) aliases[alias] = hook.name;
  }
  return { commands, aliases };
}

/**
 * Build the CLI program. With `args`, only the command they name is loaded
 * (all of them for `--help`, an unknown command or none).
 */
export async function buildProgram(args?: string[]): Promise<Command> {
  const { Command } = await import("commander");
  const program = new Command("flowyml")
    .description("ML pipelines for Deno on a stack of pluggable components")
    .version("0.1.0")
    .showHelpAfterError("(add --help for usage)");
  const { commands, aliases } = commandTable();
  const first = args?.find((a) => !a.startsWith("-"));
  const name = first && (aliases[first] ?? first);
  const only = name && Object.hasOwn(commands, name) && !args!.includes("--help") &&
      !args!.includes("-h")
    ? [commands[name]]
    : Object.values(commands);
  for (const register of only) await register(program);
  return program;
}

/**
 * Run the CLI with `args`; prints errors with their fix and sets the exit code.
 * A plain `flowyml run` is read without commander (cli/run_options.ts).
 */
export async function main(args: string[]): Promise<void> {
  try {
    const run = args[0] === "run" ? parseRunArgs(args.slice(1)) : undefined;
    if (run) await runAction(run.file, run.flags);
    else await (await buildProgram(args)).parseAsync(args, { from: "user" });
  } catch (err) {
    if (err instanceof FlowymlError) {
      console.error(`error: ${err.message}`);
    } else {
      console.error(err instanceof Error ? `error: ${err.stack ?? err.message}` : `error: ${err}`);
    }
    Deno.exitCode = 1;
  } finally {
    await runExitHooks(); // e.g. the sandbox's plugin host processes, if a command started any
  }
}

if (import.meta.main) {
  await main(Deno.args);
  // Every command awaits its own lifetime (a run, `ui`, `worker`), so anything still alive now
  // is a leftover that must not hold the CLI open: a Worker thread Deno 2.9.6 could not stop
  // (terminate() does not interrupt a busy loop), a library's stray timer.
  Deno.exit(Deno.exitCode);
}
