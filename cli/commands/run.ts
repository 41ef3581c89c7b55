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
import { checkPipelineFile } from "../_pipeline_file.ts";
import { lazyImport } from "../../kernel/lazy_import.ts";
import type { RunFlags } from "../_run_here.ts";

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
      if (!flags.inheritPermissions) {
        // The launcher (planner, lockfile, limits supervisor) only for the child mode.
        const launcher = await lazyImport<typeof import("../launcher.ts")>(
          new URL("../launcher.ts", import.meta.url),
        );
        if (await launcher.launchRun(file, flags)) return;
        // This process may not start deno: the flags it was started with are the
        // boundary (they cannot be widened from here), so run in this process.
        if (!flags.quiet && !flags.json) console.error(launcher.inProcessNote());
      }
      // flowyml's API and the run loop are loaded only to run here.
      await (await import("../_run_here.ts")).runHere(file, flags);
    });
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}
