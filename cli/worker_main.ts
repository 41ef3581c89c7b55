/**
 * A small entry point running only the plugins' commands (`worker`,
 * `workers list`, `image`…, see kernel/commands.ts) and `runs resume`, with
 * the same code as the `flowyml` CLI. The child of `flowyml worker` runs it
 * (cli/services.ts); tests and benches spawn it; users run `flowyml worker`.
 *
 * ```sh
 * deno run -A cli/worker_main.ts worker --stack cluster
 * ```
 * @module
 */
import { Command } from "commander";
import "../plugins/mod.ts";
import "../plugins/lazy_graph.ts"; // every module flowyml loads on demand, in this graph
import { commands } from "../kernel/commands.ts";
import { FlowymlError } from "../kernel/errors.ts";
import { registerResumeCommand } from "./commands/resume.ts";
import { cliServices } from "./services.ts";

if (import.meta.main) {
  const program = new Command("flowyml").exitOverride();
  const services = cliServices();
  const first = Deno.args.find((a) => !a.startsWith("-"));
  for (const hook of commands()) {
    if (first === hook.name || hook.aliases?.includes(first ?? "")) {
      await (await hook.load()).register(program, services);
    }
  }
  registerResumeCommand(program.command("runs"));
  try {
    await program.parseAsync(Deno.args, { from: "user" });
  } catch (err) {
    // exitOverride(): commander throws for --help/--version (exit code 0) and usage errors
    // (it has printed them already); only flowyml's own errors and crashes are printed here.
    const code = (err as { code?: unknown; exitCode?: unknown }).code;
    if (typeof code === "string" && code.startsWith("commander.")) {
      Deno.exitCode = Number((err as { exitCode?: unknown }).exitCode ?? 1);
    } else {
      console.error(err instanceof FlowymlError ? `error: ${err.message}` : err);
      Deno.exitCode = 1;
    }
  }
  // As cli/main.ts: every command awaits its own lifetime (a worker until it is stopped, a
  // resumed run until it ends), so a handle still open now (a library's stray timer or
  // connection) must not keep the process alive.
  Deno.exit(Deno.exitCode);
}
