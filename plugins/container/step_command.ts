/**
 * What every orchestrator that runs one step attempt per container of the
 * built image shares (`container` with podman, `kubernetes` with Jobs): the
 * pipeline module's path inside the image, the config file the step gets,
 * the `flowyml step run` command line, and turning a step's outcome plus its
 * container's output into the step's result or a clear error.
 * @module
 */
import { relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ComponentError, FlowymlError } from "../../kernel/errors.ts";
import type { PipelineSpec } from "../../kernel/graph.ts";
import type { StepTask, StepTaskResult } from "../../kernel/step_runner.ts";
import type { StepJobOutcome } from "../../kernel/step_job.ts";

/** Where the project sits in the image and on this machine. */
export interface ImageLayout {
  /** Folder `image build` packed as `app_dir` (default: cwd). */
  projectRoot?: string;
  /** Where the project is in the image, e.g. `/app`. */
  appDir: string;
  /** Used in messages, e.g. `container orchestrator`. */
  owner: string;
}

/** The pipeline module's path inside the image (`/app/<path relative to the project>`). */
export function imagePathFor(pipeline: PipelineSpec, layout: ImageLayout): string {
  const source = pipeline.source;
  if (!source) {
    throw new ComponentError(
      `${layout.owner}: pipeline "${pipeline.name}" has no source module`,
      { hint: "create it with new Pipeline(name, { source: import.meta.url })" },
    );
  }
  if (!source.startsWith("file:")) return source;
  const root = resolve(layout.projectRoot ?? Deno.cwd());
  const rel = relative(root, fileURLToPath(source));
  if (rel.startsWith("..")) {
    throw new ComponentError(
      `${layout.owner}: ${source} is outside the project root ${root}`,
      { hint: "set orchestrator.project_root to the folder `image build` packed" },
    );
  }
  return `${layout.appDir}/${rel}`;
}

/** The config file steps get: `configured`, else `$FLOWYML_CONFIG`, else ./flowyml.yaml, if it exists. */
export async function findConfigFile(configured?: string): Promise<string | undefined> {
  const f = configured ?? Deno.env.get("FLOWYML_CONFIG") ?? "flowyml.yaml";
  try {
    return (await Deno.stat(f)).isFile ? resolve(f) : undefined;
  } catch {
    return undefined;
  }
}

/** What the `flowyml step run` arguments of one attempt are made of. */
export interface StepRunCommand {
  /** Stack the step uses inside the container. */
  stack: string;
  /** The pipeline module inside the image. */
  pipelinePath: string;
  /** Reported as the step's worker, e.g. `podman:<container>`. */
  worker: string;
  /** `--task` value: `@/path/in/container.json` or the task as inline JSON (default: inline). */
  task?: string;
  /** `--result-file` inside the container, when the driver can read it back. */
  resultFile?: string;
}

/** The arguments after `step run`, with `--record none` (the driver records). */
export function stepRunArgs(task: StepTask, cmd: StepRunCommand): string[] {
  const { source: _, ...bare } = task;
  return [
    ...["--run", task.runId, "--step", task.step, "--stack", cmd.stack],
    ...["--attempt", String(task.attempt), "--task", cmd.task ?? JSON.stringify(bare)],
    ...(cmd.resultFile ? ["--result-file", cmd.resultFile] : []),
    ...["--record", "none", "--worker", cmd.worker, cmd.pipelinePath],
  ];
}

/** A step whose container (or pod) failed; the message ends with its output tail. */
export class ContainerStepError extends FlowymlError {
  /** Name of the container, pod or Job. */
  readonly container: string;
  /** Exit code of the step's process (-1 when it never ran). */
  readonly exitCode: number;
  constructor(message: string, container: string, exitCode: number, hint?: string) {
    super(message, { hint: hint ?? `the step ran in container ${container}` });
    this.name = "ContainerStepError";
    this.container = container;
    this.exitCode = exitCode;
  }
}

/** How one attempt's container ended, as the driver saw it. */
export interface ContainerEnd {
  /** Container, pod or Job name. */
  name: string;
  /** How the output's header names it (default `name`), e.g. `container <name>`. */
  label?: string;
  /** Whether the container exited 0. */
  ok: boolean;
  /** Exit code (-1 when it never ran). */
  exitCode: number;
  /** Its output, in order. */
  lines: string[];
  /** Lines kept in the error. */
  keep: number;
  /** Why it failed when the outcome does not say (e.g. `podman run exited with code 3`). */
  why: string;
  /** Fix hint of the error. */
  hint?: string;
}

/** The step's result when it completed in a container that exited 0, else a {@linkcode ContainerStepError}. */
export function outcomeResult(
  outcome: Pick<StepJobOutcome, "status" | "result" | "error"> | undefined,
  end: ContainerEnd,
): StepTaskResult {
  if (end.ok && outcome?.status === "completed" && outcome.result) return outcome.result;
  const tail = end.lines.join("\n").trim().split("\n").filter((l) => l !== "").slice(-end.keep);
  const why = outcome?.error ?? end.why;
  const body = tail.length
    ? `\n--- ${end.label ?? end.name} output (last ${tail.length} lines) ---\n${tail.join("\n")}`
    : "";
  throw new ContainerStepError(`${why}${body}`, end.name, end.exitCode, end.hint);
}
