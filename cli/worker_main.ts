/**
 * A small entry point running only the scale-out commands (`worker`,
 * `workers list`, `runs resume`), with the same code as the `flowyml` CLI.
 * Tests and benches spawn it; users run `flowyml worker`. (It lives in cli/,
 * not in plugins/queue/, so that no module of plugins/ imports the CLI.)
 *
 * ```sh
 * deno run -A cli/worker_main.ts worker --stack cluster
 * ```
 * @module
 */
import { Command } from "commander";
import "../plugins/mod.ts";
import { FlowymlError } from "../kernel/errors.ts";
import { registerResumeCommand, registerWorkerCommands } from "./commands/worker.ts";

if (import.meta.main) {
  const program = new Command("flowyml").exitOverride();
  registerWorkerCommands(program);
  registerResumeCommand(program.command("runs"));
  try {
    await program.parseAsync(Deno.args, { from: "user" });
  } catch (err) {
    console.error(err instanceof FlowymlError ? `error: ${err.message}` : err);
    Deno.exitCode = 1;
  }
}
