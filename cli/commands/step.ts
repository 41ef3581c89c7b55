/**
 * `flowyml step run --run <id> --step <name> [--stack S] <pipeline>`: run
 * exactly one step of a run (the entrypoint of built images, and what every
 * container orchestrator starts). Inputs come from the stack's artifact store,
 * verified against their hashes; outputs and the step record go to the
 * metadata store (`--record metadata`, the default) or only to a result
 * file/object that a driver records (`--record none`). Every event is one JSON
 * line on stdout; the exit code is 0 when the step completed, else 1.
 * @module
 */
import type { Command } from "commander";
import { ConfigError, describeError } from "../../kernel/errors.ts";
import type { StepTask } from "../../kernel/step_runner.ts";
import { runStepJob, type StepJobEvent, type StepRecordMode } from "../../kernel/step_job.ts";
import { collect, importPipeline, openStack, parseParams } from "../_common.ts";

/** Flags of `step run`. */
interface StepRunFlags {
  run: string;
  step: string;
  stack?: string;
  param?: string[];
  attempt?: string;
  task?: string;
  resultFile?: string;
  record: string;
  worker?: string;
}

/** One JSON line on stdout. */
function emit(e: StepJobEvent): void {
  console.log(JSON.stringify({ ts: new Date().toISOString(), ...e }));
}

/** Parse `--task`: inline JSON, or `@file`. */
async function readTask(arg: string | undefined): Promise<Partial<StepTask> | undefined> {
  if (!arg) return undefined;
  const text = arg.startsWith("@") ? await Deno.readTextFile(arg.slice(1)) : arg;
  try {
    return JSON.parse(text) as Partial<StepTask>;
  } catch (err) {
    throw new ConfigError(`--task is not JSON: ${describeError(err)}`, {
      hint: "pass the task as JSON, or as @path/to/task.json",
    });
  }
}

async function stepRun(pipelineFile: string, flags: StepRunFlags): Promise<boolean> {
  if (flags.record !== "metadata" && flags.record !== "none") {
    throw new ConfigError(`--record must be metadata or none, got ${flags.record}`);
  }
  const ctl = new AbortController();
  const onTerm = () => ctl.abort(new Error("step run received SIGTERM"));
  Deno.addSignalListener("SIGTERM", onTerm);
  const { stack } = await openStack(flags.stack);
  try {
    const pipeline = await importPipeline(pipelineFile);
    emit({ event: "step_started", run: flags.run, step: flags.step, stack: stack.name });
    const outcome = await runStepJob(pipeline, stack, {
      runId: flags.run,
      step: flags.step,
      attempt: flags.attempt ? Number(flags.attempt) : undefined,
      task: await readTask(flags.task),
      params: flags.param?.length ? parseParams(flags.param) : undefined,
      record: flags.record as StepRecordMode,
      signal: ctl.signal,
      onEvent: emit,
      worker: flags.worker,
    });
    if (flags.resultFile) {
      await Deno.writeTextFile(flags.resultFile, JSON.stringify(outcome));
    }
    emit({
      event: outcome.status === "completed" ? "step_finished" : "step_failed",
      step: flags.step,
      status: outcome.status,
      ...(outcome.error ? { error: outcome.error } : {}),
      ...(outcome.result ? { outputs: outcome.result.outputs } : {}),
      result_object: stack.artifactStore.uriFor(outcome.resultPath),
    });
    return outcome.status === "completed";
  } finally {
    Deno.removeSignalListener("SIGTERM", onTerm);
    await stack.close();
  }
}

/** Register `flowyml step run`. */
export function registerStepCommands(program: Command): void {
  const step = program.command("step").description("run single steps (in containers)");
  step
    .command("run")
    .description(
      "run one step of a run: inputs from the artifact store (hash-checked), outputs stored, " +
        "the step record written; one JSON line per event; exit 0 or 1",
    )
    .argument("<pipeline>", "pipeline module, e.g. /app/examples/demo/pipeline.ts")
    .requiredOption("--run <runId>", "the run the step belongs to")
    .requiredOption("--step <name>", "the step to run")
    .option("-s, --stack <name>", "stack whose stores are used")
    .option("-p, --param <k=v>", "run parameter (default: the run record's); repeatable", collect)
    .option("--attempt <n>", "attempt number (default 1)")
    .option("--task <json>", "the step task from a driver: inline JSON or @file")
    .option("--result-file <path>", "also write the outcome (outputs, metrics, logs) here")
    .option(
      "--record <where>",
      "metadata: write the step record to the metadata store; none: a driver records it",
      "metadata",
    )
    .option("--worker <id>", "recorded as the step's worker (default step-run)")
    .action(async (pipeline: string, flags: StepRunFlags) => {
      try {
        if (!(await stepRun(pipeline, flags))) Deno.exitCode = 1;
      } catch (err) {
        emit({ event: "error", step: flags.step, error: describeError(err) });
        Deno.exitCode = 1;
      }
    });
}
