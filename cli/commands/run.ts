/**
 * `flowyml run <pipeline.ts>`: run a pipeline module on a stack.
 *
 * By default the pipeline runs in a child `deno run` holding exactly the
 * permissions computed for the stack (see `flowyml permissions`), so the
 * pipeline's code and the trusted plugins cannot touch what the stack does
 * not need. `--inherit-permissions` runs it in this process instead.
 *
 * The options and the action live in cli/run_options.ts, which cli/main.ts
 * also reads without commander for a plain `flowyml run`.
 * @module
 */
import { type Command, Option } from "commander";
import { RUN_OPTIONS, runAction } from "../run_options.ts";
import { collect } from "../_common.ts";

/** Register `flowyml run`. */
export function registerRunCommand(program: Command): void {
  const run = program
    .command("run")
    .description("run a pipeline module (its default export, or `pipeline`) on a stack")
    .argument("<pipeline>", "pipeline module, e.g. examples/demo/pipeline.ts");
  for (const o of RUN_OPTIONS) {
    const option = new Option(o.flags, o.description);
    if (o.repeat) option.argParser(collect).default([]);
    if (o.hidden) option.hideHelp();
    run.addOption(option);
  }
  run.action(runAction);
}
