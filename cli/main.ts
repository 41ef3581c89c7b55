/**
 * The `flowyml` command line.
 *
 * ```sh
 * deno task flowyml run examples/demo/pipeline.ts
 * deno task flowyml runs list
 * ```
 *
 * Path of a run: `cli/commands/run.ts` → `kernel/pipeline.ts` (Pipeline.run)
 * → the stack's orchestrator (`plugins/local/orchestrator.ts`) →
 * `kernel/engine.ts` (executeRun) → `kernel/step_runner.ts` → the executor
 * and artifact store plugins.
 * @module
 */
import { Command } from "commander";
import "../plugins/mod.ts";
import { FlowymlError } from "../kernel/errors.ts";
import { registerRunCommand } from "./commands/run.ts";
import { registerStackCommands } from "./commands/stack.ts";
import { registerComponentCommands } from "./commands/component.ts";
import { registerRunsCommands } from "./commands/runs.ts";
import { registerArtifactsCommands } from "./commands/artifacts.ts";
import { registerPermissionsCommand } from "./commands/permissions.ts";
import { registerPluginCommands } from "./commands/plugin.ts";
import { registerImageCommands } from "./commands/image.ts";
import { registerUiCommand } from "./commands/ui.ts";
import { registerStepCommands } from "./commands/step.ts";
import { registerCompileCommand } from "./commands/compile.ts";
import { registerResumeCommand, registerWorkerCommands } from "./commands/worker.ts";
import { closePluginHosts } from "../kernel/sandbox/runtime.ts";

/** Build the CLI program (exported for tests). */
export function buildProgram(): Command {
  const program = new Command("flowyml")
    .description("ML pipelines for Deno on a stack of pluggable components")
    .version("0.1.0")
    .showHelpAfterError("(add --help for usage)");
  registerRunCommand(program);
  registerStackCommands(program);
  registerComponentCommands(program);
  registerResumeCommand(registerRunsCommands(program));
  registerWorkerCommands(program);
  registerPermissionsCommand(program);
  registerPluginCommands(program);
  registerImageCommands(program);
  registerStepCommands(program);
  registerCompileCommand(program);
  registerArtifactsCommands(program);
  registerUiCommand(program);
  return program;
}

/** Run the CLI with `args`; prints errors with their fix and sets the exit code. */
export async function main(args: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(args, { from: "user" });
  } catch (err) {
    if (err instanceof FlowymlError) {
      console.error(`error: ${err.message}`);
    } else {
      console.error(err instanceof Error ? `error: ${err.stack ?? err.message}` : `error: ${err}`);
    }
    Deno.exitCode = 1;
  } finally {
    await closePluginHosts();
  }
}

if (import.meta.main) await main(Deno.args);
