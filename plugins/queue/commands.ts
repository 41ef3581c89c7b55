/**
 * The queue plugin's commands, `flowyml worker` and `flowyml workers list`,
 * contributed through a command hook (kernel/commands.ts, declared in
 * ./register.ts): the CLI loads this module, and BullMQ with it, only when
 * one of them runs or for `--help`. Everything it needs from the CLI comes
 * through {@linkcode CliServices}.
 * @module
 */
import { type Command, Option } from "commander";
import { ConfigError } from "../../kernel/errors.ts";
import type { CliServices } from "../../kernel/commands.ts";
import type { Stack } from "../../kernel/stack.ts";
import type { QueueOrchestrator } from "./orchestrator.ts";

interface WorkerFlags {
  stack?: string;
  inheritPermissions?: boolean;
  grant?: string[];
  showFlags?: boolean;
  watchParent?: boolean;
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

/** Register `flowyml worker` and `flowyml workers list` (its `CommandModule` hook). */
export function register(program: Command, services: CliServices): void {
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
    .option(
      "--inherit-permissions",
      "run steps in this process with its permissions, not in a least-privilege child",
    )
    .option(
      "-g, --grant <kind=resource>",
      "extra permission for the worker child, e.g. read=/data; repeatable",
      collect,
      [],
    )
    .option("--show-flags", "print the child's `deno run` command before starting it")
    .addOption(
      new Option("--watch-parent", "internal: exit when the parent process exits").hideHelp(),
    )
    .action(async (flags: WorkerFlags) => {
      if (!flags.inheritPermissions) {
        if (await workerInChild(services, flags)) return;
        console.error(
          "note: running steps in this process with its own permissions; start flowyml with " +
            `--allow-run=${Deno.execPath()} to run them in a child holding only the computed flags`,
        );
      }
      await workerHere(services, flags);
    });

  const workers = program.command("workers").description("inspect queue workers");
  workers.command("list")
    .description("live workers (from their Redis heartbeats) and the steps they are running")
    .option("-s, --stack <name>", "stack whose orchestrator is `type: queue`")
    .option("--json", "print JSON")
    .action((flags: { stack?: string; json?: boolean }) => listWorkersCommand(services, flags));
}

/** `flowyml workers list`: live workers from their Redis heartbeats, as a table or JSON. */
async function listWorkersCommand(
  { openStack, table, ms }: CliServices,
  flags: { stack?: string; json?: boolean },
): Promise<void> {
  const { stack } = await openStack(flags.stack);
  try {
    const orch = queueOrchestrator(stack);
    await orch.validate();
    const { listWorkers } = await import("./worker.ts");
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
        w.steps.map((s) => `${s.runId}/${s.step}#${s.attempt} (${ms(now - s.since)})`).join(", "),
      ]),
    ));
  } finally {
    await stack.close();
  }
}

/** Run the worker (and so its steps) in this process. */
async function workerHere(services: CliServices, flags: WorkerFlags): Promise<void> {
  const { stack } = await services.openStack(flags.stack);
  const orch = queueOrchestrator(stack);
  await stack.artifactStore.validate();
  const { QueueWorker } = await import("./worker.ts");
  const worker = new QueueWorker(stack, orch.config, {
    queues: flags.queues,
    concurrency: positive(flags.concurrency, "--concurrency"),
    id: flags.id,
  });
  const graceMs = positive(flags.graceMs, "--grace-ms");
  let stopped!: () => void;
  const done = new Promise<void>((r) => (stopped = r));
  let started = false;
  // Before it started (still connecting), a stop signal ends the process at once.
  const onSignal = () => started ? worker.stop({ graceMs }).then(stopped) : Deno.exit(143);
  const signals: Deno.Signal[] = ["SIGTERM", "SIGINT"];
  for (const s of signals) Deno.addSignalListener(s, onSignal);
  // The child of `flowyml worker` ends like a killed worker when its parent vanishes
  // (kill -9): another worker reruns its steps once their locks expire.
  const parent = Deno.ppid;
  const watch = flags.watchParent
    ? setInterval(() => Deno.ppid !== parent && Deno.exit(1), 1000)
    : undefined;
  try {
    await worker.start();
    started = true;
    await done;
  } finally {
    clearInterval(watch);
    for (const s of signals) Deno.removeSignalListener(s, onSignal);
    await stack.close();
  }
  // Steps handed back may still be running here (a step that ignores its abort signal):
  // another worker owns them now, so end this process instead of letting them finish.
  if (worker.info().handedBack > 0) Deno.exit(0);
}

/**
 * `flowyml worker` with the boundary of `flowyml run`: the steps run in a
 * child `deno run` holding only the stack's computed permissions (Redis and
 * the stores), read access to the project folder (where pipeline modules
 * live) and `--grant`s, under the frozen lockfile, in a cleared environment
 * (BullMQ's dependencies enumerate it: `debug` reads Object.keys(process.env)).
 * This process imports no locked component module and no pipeline; it
 * forwards SIGTERM/SIGINT. `false` when it may not start a child.
 */
function workerInChild(services: CliServices, flags: WorkerFlags): Promise<boolean> {
  const args = ["worker", "--inherit-permissions", "--watch-parent"];
  if (flags.queues?.length) args.push("--queues", flags.queues.join(","));
  if (flags.concurrency) args.push("--concurrency", flags.concurrency);
  if (flags.id) args.push("--id", flags.id);
  if (flags.graceMs) args.push("--grace-ms", flags.graceMs);
  return services.runInChild({
    args,
    stack: flags.stack,
    grants: flags.grant,
    showFlags: flags.showFlags,
  });
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}
