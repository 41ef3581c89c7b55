/**
 * `flowyml runs list | show <runId>`.
 * @module
 */
import { type Command, Option } from "commander";
import { ConfigError } from "../../kernel/errors.ts";
import type { RunStatus } from "../../kernel/records.ts";
import { liveRunsView, ms, openStack, table } from "../_common.ts";
import { withLiveStatus } from "../../kernel/run_liveness.ts";
import { renderRunSummary } from "../summary.ts";
import { formatAudit } from "../../kernel/sandbox/audit.ts";

/** The statuses `runs list --status` accepts (a misspelt one is an error, not an empty list). */
const RUN_STATUSES: RunStatus[] = [
  "pending",
  "running",
  "completed",
  "failed",
  "cancelled",
  "crashed",
];

/** Register the `runs` commands; returns the `runs` command so others can add subcommands. */
export function registerRunsCommands(program: Command): Command {
  const runs = program.command("runs").description("inspect recorded runs");
  runs.command("list").description("recent runs, newest first")
    .option("-s, --stack <name>", "stack whose metadata store to read")
    .option("--pipeline <name>", "only this pipeline")
    .addOption(
      new Option("--status <status>", "only runs with this status").choices(RUN_STATUSES),
    )
    .option("-n, --limit <n>", "how many", "20")
    .option("--json", "print JSON: an array of run records")
    .action(listRuns);
  runs.command("show").description(
    "steps, status, durations, cache hits, artifacts and lineage of a run",
  )
    .argument("<runId>")
    .option("-s, --stack <name>", "stack whose metadata store to read")
    .option("--audit", "also print the audit trail of brokered plugin calls")
    .option("--json", "print JSON")
    .action(showRun);
  return runs;
}

/** `flowyml runs list`. */
async function listRuns(flags: {
  stack?: string;
  pipeline?: string;
  status?: RunStatus;
  limit: string;
  json?: boolean;
}): Promise<void> {
  const { stack } = await openStack(flags.stack);
  // A `running` run whose process is gone shows as `crashed` (docs/runs.md).
  const derived = flags.status === "crashed" || flags.status === "running";
  const list = (await stack.metadataStore.listRuns({
    pipeline: flags.pipeline,
    status: derived ? "running" : flags.status,
    limit: derived ? 10_000 : Number(flags.limit),
  })).map((r) => withLiveStatus(r))
    .filter((r) => !flags.status || r.status === flags.status)
    .slice(0, Number(flags.limit));
  await stack.close();
  if (flags.json) return console.log(JSON.stringify(list, null, 2));
  console.log(table(
    ["run", "pipeline", "status", "started", "took"],
    list.map((r) => [
      r.runId,
      r.pipeline,
      r.status,
      new Date(r.startedAt).toISOString().replace("T", " ").slice(0, 19),
      r.endedAt ? ms(r.endedAt - r.startedAt) : "-",
    ]),
  ));
}

/** `flowyml runs show <runId>`. */
async function showRun(
  runId: string,
  flags: { stack?: string; audit?: boolean; json?: boolean },
): Promise<void> {
  const { stack } = await openStack(flags.stack);
  const meta = liveRunsView(stack.metadataStore);
  const run = await meta.getRun(runId);
  if (!run) {
    await stack.close();
    throw new ConfigError(`no run "${runId}" in stack "${stack.name}"`, {
      hint: "list runs with `flowyml runs list` (add --stack if it ran elsewhere)",
    });
  }
  if (flags.json) {
    console.log(JSON.stringify(
      {
        run,
        steps: await meta.listStepRuns(runId),
        lineage: await meta.getLineage({ runId }),
        audit: flags.audit ? await meta.listAudit(runId) : undefined,
      },
      null,
      2,
    ));
  } else {
    console.log(await renderRunSummary(meta, runId, { lineage: true }));
    if (flags.audit) {
      console.log("\naudit");
      console.log(formatAudit(await meta.listAudit(runId)));
    }
  }
  await stack.close();
}
