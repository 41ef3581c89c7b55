/**
 * `flowyml runs resume <id>`: continue an interrupted run on any stack (the
 * local orchestrator, a queue of workers…): completed steps are reused, the
 * rest run. Registered on the `runs` group by cli/main.ts and by
 * cli/worker_main.ts.
 * @module
 */
import type { Command } from "commander";
import { ConfigError, describeError } from "../../kernel/errors.ts";
import { assertNotLive } from "../../kernel/run_liveness.ts";
import { pipelineHash } from "../../kernel/graph.ts";
import { buildStack, type Stack } from "../../kernel/stack.ts";
import type { RunRecord } from "../../kernel/records.ts";
import { importPipeline, loadProject } from "../_common.ts";
import { createProgress } from "../progress.ts";
import { renderRunSummary } from "../summary.ts";
import { stackNameOf } from "../../kernel/config.ts";

/** Register `flowyml runs resume <runId>` on the `runs` command group. */
export function registerResumeCommand(runs: Command): void {
  runs.command("resume")
    .description("continue an interrupted run: completed steps are reused, the rest run")
    .argument("<runId>")
    .option("-s, --stack <name>", "stack to run on (default: the stack the run used)")
    .option("--allow-changed", "resume even if the pipeline code changed since the run started")
    .option("-q, --quiet", "no live progress")
    .option("--cache", "use the step cache, even if the run was started with --no-cache")
    .option("--no-cache", "ignore the step cache (default: the run's own setting)")
    .option(
      "--force",
      "take the run over even while its driver looks alive (that driver stops at its next heartbeat)",
    )
    .action(
      async (
        runId: string,
        flags: {
          stack?: string;
          allowChanged?: boolean;
          quiet?: boolean;
          cache?: boolean;
          force?: boolean;
        },
      ) => {
        const { stack, run } = await findRun(runId, flags.stack);
        try {
          if (run.status === "completed") {
            console.log(`run ${runId} already completed; nothing to resume`);
            return;
          }
          // A crashed run is taken over; a live one is refused (the engine claims the lease).
          if (!flags.force) assertNotLive(run);
          const source = run.extra?.source;
          if (typeof source !== "string") {
            throw new ConfigError(
              `run "${runId}" has no recorded pipeline source, so it cannot be re-imported`,
              {
                hint:
                  "runs started by `flowyml run file.ts` or with new Pipeline(name, { source: import.meta.url }) " +
                  "record it",
              },
            );
          }
          const pipeline = await importPipeline(source);
          if (
            run.pipelineHash && pipelineHash(pipeline) !== run.pipelineHash && !flags.allowChanged
          ) {
            throw new ConfigError(
              `the pipeline in ${source} changed since run "${runId}" started`,
              {
                hint:
                  "restore that code version, or pass --allow-changed to resume with the new code",
              },
            );
          }
          const result = await pipeline.run({
            stack,
            params: run.params,
            resumeRunId: runId,
            forceResume: flags.force,
            cache: flags.cache, // undefined: the run's own recorded setting
            onEvent: flags.quiet ? undefined : createProgress(),
          });
          console.log("\n" + await renderRunSummary(stack.metadataStore, result.runId));
          if (result.status !== "completed") Deno.exitCode = 1;
        } finally {
          await stack.close();
        }
      },
    );
}

/**
 * The run and the stack it ran on: `--stack`, else the stack its run record names. Without
 * `--stack`, every stack of the project with its own metadata store is searched, so `runs
 * resume <id>` finds a run recorded in a shared PostgreSQL store as well as a local one.
 */
async function findRun(runId: string, wanted?: string): Promise<{ stack: Stack; run: RunRecord }> {
  const { config } = await loadProject();
  const names = wanted ? [wanted] : [
    ...new Set([stackNameOf(config), ...Object.keys(config.stacks)]),
  ];
  const seen = new Set<string>();
  const trouble: string[] = [];
  for (const name of names) {
    const stack = await buildStack(config, name);
    const where = JSON.stringify(stack.metadataStore.toDict());
    let run: RunRecord | undefined;
    if (!seen.has(where)) {
      seen.add(where);
      run = await stack.metadataStore.getRun(runId).catch((err) => {
        trouble.push(`stack "${name}": ${describeError(err).split("\n")[0]}`);
        return undefined;
      });
    }
    if (run && !wanted && run.stack !== name && config.stacks[run.stack]) {
      await stack.close(); // the run record names its stack: run on that one
      const own = await buildStack(config, run.stack);
      const again = await own.metadataStore.getRun(runId);
      if (again) return { stack: own, run: again };
      await own.close();
      return { stack: await buildStack(config, name), run };
    }
    if (run) return { stack, run };
    await stack.close();
  }
  throw new ConfigError(
    `no run "${runId}" in stack${names.length > 1 ? "s" : ""} ${
      names.map((n) => `"${n}"`).join(", ")
    }`,
    {
      hint: (trouble.length ? `some stores could not be read: ${trouble.join("; ")}; ` : "") +
        "list runs with `flowyml runs list --stack NAME`",
    },
  );
}
