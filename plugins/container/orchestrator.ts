/**
 * `ContainerOrchestrator` (`type: container`): ZenML's `local_docker`,
 * daemonless. The kernel's engine schedules the DAG in this process (cache,
 * retries, timeouts, records); each step attempt runs as its own podman
 * container of the built image, started as `flowyml step run --record none`
 * with the step task in a mounted folder. The container reads its inputs from
 * the stack's artifact store (hash-checked), stores its outputs there and
 * leaves a result file, which this driver records. A failed container's
 * output tail becomes the step's error, so `flowyml runs show` shows it.
 * @module
 */
import type { RunPipelineOptions } from "../../kernel/contracts.ts";
import type { PermissionNeeds } from "../../kernel/component.ts";
import { componentConfig } from "../../kernel/registry.ts";
import type { Schema } from "../../kernel/schema.ts";
import { EngineOrchestrator, type RunHooks } from "../../kernel/engine_orchestrator.ts";
import { ComponentError } from "../../kernel/errors.ts";
import type { PipelineSpec } from "../../kernel/graph.ts";
import type { Step } from "../../kernel/step.ts";
import type { StepTask, StepTaskResult } from "../../kernel/step_runner.ts";
import type { StepJobOutcome } from "../../kernel/step_job.ts";
import { type ContainerConfig, containerOrchestratorSchema } from "./config.ts";
import { podman, pullArgs, runArgs } from "./podman.ts";
import {
  ContainerStepError,
  findConfigFile,
  imagePathFor,
  outcomeResult,
  stepRunArgs,
} from "./step_command.ts";

export { containerOrchestratorSchema, ContainerStepError };

interface RunContext {
  image: string;
  pipelinePath: string;
  stackName: string;
  configFile?: string;
  options: RunPipelineOptions;
}

/** Runs every step attempt as its own podman container of the pipeline's image. */
export class ContainerOrchestrator extends EngineOrchestrator {
  /** The `type:` of this orchestrator in flowyml.yaml. */
  static readonly type = "container";
  /** Validates a `type: container` config before the orchestrator is built. */
  static readonly configSchema: Schema<ContainerConfig> = containerOrchestratorSchema;
  /** Parsed config. */
  readonly config: ContainerConfig;

  /** Parse `options` (defaults applied; a config the registry already validated is taken as is). */
  constructor(options: Partial<ContainerConfig> & { name?: string } = {}) {
    super(options.name ?? "container", { owner: "container orchestrator" });
    this.config = componentConfig(containerOrchestratorSchema, options);
  }

  /** The run's `dispatch` hook: each attempt is one podman container (the image pulled first). */
  protected override async hooks(
    pipeline: PipelineSpec,
    options: RunPipelineOptions,
  ): Promise<RunHooks> {
    const image = this.config.image ?? options.docker?.image;
    if (!image) {
      throw new ComponentError("container orchestrator: no image to run the steps in", {
        hint: "build one with `flowyml image build --stack <s> pipeline.ts` and set " +
          "orchestrator.image (or run with docker.image)",
      });
    }
    const run: RunContext = {
      image,
      pipelinePath: this.imagePath(pipeline),
      stackName: this.config.stack ?? options.stack.name,
      configFile: await findConfigFile(this.config.config_file),
      options,
    };
    await this.#pull(image);
    return {
      concurrency: options.concurrency ?? 8,
      dispatch: (task, step, signal) => this.#dispatch(task, step, signal, run),
    };
  }

  /** The pipeline module's path inside the image (`/app/<path relative to the project>`). */
  imagePath(pipeline: PipelineSpec): string {
    return imagePathFor(pipeline, {
      projectRoot: this.config.project_root,
      appDir: this.config.app_dir,
      owner: "container orchestrator",
    });
  }

  async #pull(image: string): Promise<void> {
    if (this.config.pull === "never") return;
    const exists = await podman(this.config, ["image", "exists", image.split("@")[0]]);
    if (this.config.pull === "missing" && exists.code === 0 && !image.includes("@")) return;
    const out = await podman(this.config, pullArgs(this.config, image));
    if (out.code !== 0) {
      throw new ComponentError(
        `container orchestrator: podman could not pull ${image}: ${out.stderr.trim()}`,
        { hint: "push it with `flowyml image build --stack <s>`; check the registry is reachable" },
      );
    }
  }

  async #dispatch(
    task: StepTask,
    step: Step,
    signal: AbortSignal,
    run: RunContext,
  ): Promise<StepTaskResult> {
    const io = await Deno.makeTempDir({ prefix: "flowyml-step-" });
    const name = containerName(task);
    try {
      const { source: _, ...bare } = task;
      await Deno.writeTextFile(`${io}/task.json`, JSON.stringify(bare));
      const stepArgs = stepRunArgs(task, {
        stack: run.stackName,
        pipelinePath: run.pipelinePath,
        worker: `podman:${name}`,
        task: "@/flowyml/io/task.json",
        resultFile: "/flowyml/io/result.json",
      });
      const args = runArgs(this.config, {
        name,
        image: run.image,
        ioDir: io,
        configFile: run.configFile,
        env: run.options.docker?.env ?? {},
        resources: step.options.resources ?? run.options.resources,
        stepArgs,
      });
      const out = await podman(this.config, args, { signal, container: name });
      signal.throwIfAborted();
      return await this.#result(io, name, out);
    } finally {
      await Deno.remove(io, { recursive: true }).catch(() => {});
    }
  }

  async #result(
    io: string,
    name: string,
    out: { code: number; stdout: string; stderr: string },
  ): Promise<StepTaskResult> {
    let outcome: StepJobOutcome | undefined;
    try {
      outcome = JSON.parse(await Deno.readTextFile(`${io}/result.json`));
    } catch {
      // No result file: the container failed before the step ran.
    }
    return outcomeResult(outcome, {
      name,
      label: `container ${name}`,
      ok: out.code === 0,
      exitCode: out.code,
      lines: [out.stdout, out.stderr],
      keep: this.config.log_lines,
      why: `podman run exited with code ${out.code}`,
      hint: `the step ran in podman container ${name}`,
    });
  }

  /** Checks that podman runs with the configured runtime and cgroup manager (`podman info`). */
  override async validate(): Promise<boolean> {
    const out = await podman(this.config, [
      ...["--runtime", this.config.runtime, "--cgroup-manager", this.config.cgroup_manager],
      ...["info", "--format", "{{.Host.OCIRuntime.Name}}"],
    ]).catch((err) => ({ code: -1, stdout: "", stderr: String(err) }));
    if (out.code !== 0) {
      throw new ComponentError(`container orchestrator: podman is not usable: ${out.stderr}`, {
        hint: "apt-get install podman runc (see docs/orchestrators.md for the flags it needs)",
      });
    }
    return true;
  }

  /** Runs podman; reads and writes the temp dir ($TMPDIR, else /tmp); reads the `pass_env` variables. */
  override permissions(): PermissionNeeds {
    return {
      run: [this.config.podman],
      read: [Deno.env.get("TMPDIR") ?? "/tmp"],
      write: [Deno.env.get("TMPDIR") ?? "/tmp"],
      env: ["FLOWYML_CONFIG", "TMPDIR", ...this.config.pass_env],
    };
  }

  /** The parsed config without `name` (secrets are passed by name in `pass_env`, never as values). */
  override toDict(): Record<string, unknown> {
    const { name: _, ...rest } = this.config;
    return { type: "container", ...rest };
  }
}

/** A podman container name for one step attempt (unique per attempt). */
function containerName(task: StepTask): string {
  const clean = (s: string) => s.replace(/[^\w.-]/g, "_").slice(0, 60);
  return `flowyml-${clean(task.runId)}-${clean(task.step)}-${task.attempt}-${
    crypto.randomUUID().slice(0, 6)
  }`;
}
