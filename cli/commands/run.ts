/**
 * `flowyml run <pipeline.ts>`: run a pipeline module on a stack.
 * @module
 */
import type { Command } from "commander";
import { buildStack } from "../../kernel/stack.ts";
import { importPipeline, loadProject, parseParams } from "../_common.ts";
import { createProgress } from "../progress.ts";
import { renderRunSummary } from "../summary.ts";

/** Options of the run command. */
interface RunFlags {
  stack?: string;
  param?: string[];
  cache: boolean;
  concurrency?: string;
  quiet?: boolean;
  json?: boolean;
}

/** Register `flowyml run`. */
export function registerRunCommand(program: Command): void {
  program
    .command("run")
    .description("run a pipeline module (its default export, or `pipeline`) on a stack")
    .argument("<pipeline>", "pipeline module, e.g. examples/demo/pipeline.ts")
    .option("-s, --stack <name>", "stack from flowyml.yaml (default: default_stack, else local)")
    .option("-p, --param <k=v>", "run parameter; repeatable; values parse as JSON when they can", collect, [])
    .option("--no-cache", "ignore the step cache for this run")
    .option("-c, --concurrency <n>", "max steps running at once")
    .option("-q, --quiet", "no live progress")
    .option("--json", "print the result as JSON")
    .action(async (file: string, flags: RunFlags) => {
      const config = await loadProject();
      const pipeline = await importPipeline(file);
      const stack = await buildStack(config, flags.stack ?? config.default_stack ?? "local");
      const result = await pipeline.run({
        stack,
        params: parseParams(flags.param),
        cache: flags.cache,
        concurrency: flags.concurrency ? Number(flags.concurrency) : undefined,
        onEvent: flags.quiet || flags.json ? undefined : createProgress(),
      });
      if (flags.json) {
        console.log(JSON.stringify(
          { runId: result.runId, status: result.status, steps: result.steps, error: result.error?.message },
          null,
          2,
        ));
      } else {
        console.log("\n" + await renderRunSummary(stack.metadataStore, result.runId));
      }
      await stack.close();
      if (result.status !== "completed") Deno.exitCode = 1;
    });
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}
