/**
 * Scale-out commands: `flowyml worker`, `flowyml workers list` and
 * `flowyml runs resume <id>`. The queue plugin (BullMQ) is imported only
 * when one of these runs, so the rest of the CLI stays light.
 * @module
 */
import { type Command, Option } from "commander";
import { dirname, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError } from "../../kernel/errors.ts";
import { assertNotLive } from "../../kernel/run_liveness.ts";
import { pipelineHash } from "../../kernel/graph.ts";
import type { Stack } from "../../kernel/stack.ts";
import type { QueueOrchestrator } from "../../plugins/queue/orchestrator.ts";
import { importPipeline, loadProject, ms, openStack, table } from "../_common.ts";
import { buildStack } from "../../kernel/stack.ts";
import type { RunRecord } from "../../kernel/records.ts";
import { describeError } from "../../kernel/errors.ts";
import { runnableDeno } from "../install.ts";
import { lockfilePath } from "../lockfile.ts";
import { prepareWasmPlugins, writeRunLock } from "../plan.ts";
import { forwardStopSignals } from "../signals.ts";
import { clearedEnv } from "../child_env.ts";
import { computePermissions, installConfig, parseGrants, projectStateDir } from "./permissions.ts";
import { startLimitsSupervisor } from "../limits_supervisor.ts";
import { createProgress } from "../progress.ts";
import { renderRunSummary } from "../summary.ts";

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
        const exe = runnableDeno();
        if (exe) return await workerInChild(exe, flags);
        console.error(
          "note: running steps in this process with its own permissions; start flowyml with " +
            `--allow-run=${Deno.execPath()} to run them in a child holding only the computed flags`,
        );
      }
      await workerHere(flags);
    });

  const workers = program.command("workers").description("inspect queue workers");
  workers.command("list")
    .description("live workers (from their Redis heartbeats) and the steps they are running")
    .option("-s, --stack <name>", "stack whose orchestrator is `type: queue`")
    .option("--json", "print JSON")
    .action(listWorkersCommand);
}

/** `flowyml workers list`: live workers from their Redis heartbeats, as a table or JSON. */
async function listWorkersCommand(flags: { stack?: string; json?: boolean }): Promise<void> {
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
        w.steps.map((s) => `${s.runId}/${s.step}#${s.attempt} (${ms(now - s.since)})`).join(", "),
      ]),
    ));
  } finally {
    await stack.close();
  }
}

/** Run the worker (and so its steps) in this process. */
async function workerHere(flags: WorkerFlags): Promise<void> {
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
 * live) and `--grant`s, under the frozen lockfile. This process imports no
 * locked component module and no pipeline; it forwards SIGTERM/SIGINT.
 */
async function workerInChild(exe: string, flags: WorkerFlags): Promise<void> {
  const { config, lock } = await loadProject({ load: false });
  const stackName = flags.stack ?? config.default_stack ?? "local";
  const grants = parseGrants(flags.grant);
  const project = relative(Deno.cwd(), dirname(lockfilePath(config))) || ".";
  const extra = { ...grants, read: [...grants.read ?? [], project] };
  const runLock = await writeRunLock(config, lock);
  // This process puts the child's plugin processes in their cgroups (Deno refuses it /sys).
  const limits = await startLimitsSupervisor(projectStateDir(config));
  try {
    await workerChild(exe, flags, { config, lock, stackName, extra, runLock, limits });
  } finally {
    await limits?.close();
  }
}

/** Plan, start and wait for the worker child (see {@linkcode workerInChild}). */
async function workerChild(
  exe: string,
  flags: WorkerFlags,
  plan: {
    config: Awaited<ReturnType<typeof loadProject>>["config"];
    lock: Awaited<ReturnType<typeof loadProject>>["lock"];
    stackName: string;
    extra: ReturnType<typeof parseGrants>;
    runLock: Awaited<ReturnType<typeof writeRunLock>>;
    limits: Awaited<ReturnType<typeof startLimitsSupervisor>>;
  },
): Promise<void> {
  const { config, lock, stackName, extra, runLock, limits } = plan;
  const perms = await computePermissions(config, stackName, {
    lock,
    extra,
    runLock,
    limits: limits?.needs,
  });
  await prepareWasmPlugins(config);
  const cfg = await installConfig();
  // BullMQ's dependencies enumerate the environment (`debug` reads Object.keys(process.env)),
  // which needs --allow-env for all variables. The child therefore gets a cleared
  // environment holding only the granted variables (and Deno's own), so that access to
  // "all" of it is access to exactly the grant.
  const { flags: allow, env } = clearedEnv(perms.flags, perms.needs.env);
  Object.assign(env, limits?.env);
  const args = ["run", ...allow, ...(cfg ? [`--config=${cfg}`] : []), ...runLock?.flags ?? []];
  args.push(fileURLToPath(new URL("../worker_main.ts", import.meta.url)), "worker");
  args.push("--inherit-permissions", "--watch-parent", "--stack", stackName);
  if (flags.queues?.length) args.push("--queues", flags.queues.join(","));
  if (flags.concurrency) args.push("--concurrency", flags.concurrency);
  if (flags.id) args.push("--id", flags.id);
  if (flags.graceMs) args.push("--grace-ms", flags.graceMs);
  if (flags.showFlags) console.error(`$ ${exe} ${args.join(" ")}`);
  const child = new Deno.Command(exe, {
    args,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  limits?.watch(child.pid);
  const unforward = forwardStopSignals(child);
  const status = await child.status;
  unforward();
  if (!status.success) Deno.exitCode = status.code || 1;
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
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
    ...new Set([config.default_stack ?? "local", ...Object.keys(config.stacks)]),
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
