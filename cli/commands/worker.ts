/**
 * Scale-out commands: `flowyml worker`, `flowyml workers list` and
 * `flowyml runs resume <id>`. The queue plugin (BullMQ) is imported only
 * when one of these runs, so the rest of the CLI stays light.
 * @module
 */
import type { Command } from "commander";
import { ConfigError } from "../../kernel/errors.ts";
import { assertNotLive } from "../../kernel/run_liveness.ts";
import { pipelineHash } from "../../kernel/graph.ts";
import type { Stack } from "../../kernel/stack.ts";
import type { QueueOrchestrator } from "../../plugins/queue/orchestrator.ts";
import { importPipeline, ms, openStack, table } from "../_common.ts";
import { createProgress } from "../progress.ts";
import { renderRunSummary } from "../summary.ts";

interface WorkerFlags {
  stack?: string;
  queues?: string[];
  concurrency?: string;
  id?: string;
  graceMs?: string;
}

function csv(v: string): string[] {
  return v.split(",").map((s) => s.trim()).filter(Boolean);
}

function positive(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    throw new ConfigError(`${flag} must be a whole number, got "${v}"`);
  }
  return n;
}

/** The stack's queue orchestrator, or a clear error when the stack does not use one. */
function queueOrchestrator(stack: Stack): QueueOrchestrator {
  const o = stack.orchestrator;
  if ((o.constructor as { type?: string }).type !== "queue") {
    throw new ConfigError(
      `stack "${stack.name}" uses orchestrator type "${o.toDict().type}", not "queue"`,
      {
        hint:
          "pick a stack whose orchestrator is `{ type: queue, redis: redis://host:6379 }` (--stack NAME)",
      },
    );
  }
  return o as QueueOrchestrator;
}

/** Register `flowyml worker` and `flowyml workers list`. */
export function registerWorkerCommands(program: Command): void {
  program.command("worker")
    .description("run pipeline steps submitted to a queue stack (stops gracefully on SIGTERM)")
    .option("-s, --stack <name>", "stack whose orchestrator is `type: queue`")
    .option(
      "-q, --queues <a,b>",
      "queues (labels) to take steps from; default: the stack's queue",
      csv,
    )
    .option("-c, --concurrency <n>", "steps to run at once (default: the stack's concurrency)")
    .option("--id <id>", "worker id shown in `workers list` and on step runs (default host:pid)")
    .option(
      "--grace-ms <ms>",
      "on SIGTERM, let running steps finish this long, then hand them back",
    )
    .action(async (flags: WorkerFlags) => {
      const { stack } = await openStack(flags.stack);
      const orch = queueOrchestrator(stack);
      await stack.artifactStore.validate();
      const { QueueWorker } = await import("../../plugins/queue/worker.ts");
      const worker = new QueueWorker(stack, orch.config, {
        queues: flags.queues,
        concurrency: positive(flags.concurrency, "--concurrency"),
        id: flags.id,
      });
      const graceMs = positive(flags.graceMs, "--grace-ms");
      let stopped!: () => void;
      const done = new Promise<void>((r) => (stopped = r));
      const onSignal = () => worker.stop({ graceMs }).then(stopped);
      const signals: Deno.Signal[] = ["SIGTERM", "SIGINT"];
      for (const s of signals) Deno.addSignalListener(s, onSignal);
      try {
        await worker.start();
        await done;
      } finally {
        for (const s of signals) Deno.removeSignalListener(s, onSignal);
        await stack.close();
      }
      // Steps handed back may still be running here (a step that ignores its abort signal):
      // another worker owns them now, so end this process instead of letting them finish.
      if (worker.info().handedBack > 0) Deno.exit(0);
    });

  const workers = program.command("workers").description("inspect queue workers");
  workers.command("list")
    .description("live workers (from their Redis heartbeats) and the steps they are running")
    .option("-s, --stack <name>", "stack whose orchestrator is `type: queue`")
    .option("--json", "print JSON")
    .action(async (flags: { stack?: string; json?: boolean }) => {
      const { stack } = await openStack(flags.stack);
      try {
        const orch = queueOrchestrator(stack);
        await orch.validate();
        const { listWorkers } = await import("../../plugins/queue/worker.ts");
        const list = await listWorkers(orch.client(), orch.config.prefix);
        if (flags.json) {
          console.log(JSON.stringify(list, null, 2));
          return;
        }
        if (!list.length) {
          console.log(
            `no live workers on ${orch.toDict().redis} (start one with \`flowyml worker --stack ${stack.name}\`)`,
          );
          return;
        }
        const now = Date.now();
        console.log(table(
          ["worker", "state", "queues", "running", "done", "failed", "up", "current steps"],
          list.map((w) => [
            w.id,
            w.state,
            w.queues.join(","),
            `${w.steps.length}/${w.concurrency}`,
            String(w.done),
            String(w.failed),
            ms(now - w.startedAt),
            w.steps.map((s) => `${s.runId}/${s.step}#${s.attempt} (${ms(now - s.since)})`).join(
              ", ",
            ),
          ]),
        ));
      } finally {
        await stack.close();
      }
    });
}

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
    .action(
      async (
        runId: string,
        flags: { stack?: string; allowChanged?: boolean; quiet?: boolean; cache?: boolean },
      ) => {
        let { stack } = await openStack(flags.stack);
        let run = await stack.metadataStore.getRun(runId);
        if (run && !flags.stack && run.stack !== stack.name) {
          await stack.close();
          ({ stack } = await openStack(run.stack));
          run = await stack.metadataStore.getRun(runId);
        }
        try {
          if (!run) {
            throw new ConfigError(`no run "${runId}" in stack "${stack.name}"`, {
              hint: "list runs with `flowyml runs list` (add --stack if it ran elsewhere)",
            });
          }
          if (run.status === "completed") {
            console.log(`run ${runId} already completed; nothing to resume`);
            return;
          }
          assertNotLive(run); // a crashed run is taken over; a live one is refused
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
