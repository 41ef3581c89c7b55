/**
 * `VertexOrchestrator` (`type: vertex`): compiles the pipeline to a KFP v2
 * PipelineSpec (compile.ts) and submits it as a Vertex AI PipelineJob over REST
 * (`pipelineJobs.create`, with the flowyml run id as the job id), with an
 * OAuth token from the config, `$GOOGLE_OAUTH_ACCESS_TOKEN` or Application
 * Default Credentials (google-auth-library). Status and cancel are
 * `pipelineJobs.get` and `:cancel`. Vertex runs the steps, so the kernel's
 * engine does not: the run record is the kernel's (`recordRunSubmitted`,
 * `recordRunStatus`, `recordRunEnd` in kernel/run_start.ts). Each task's
 * state becomes a step record; a completed task's outputs come from the
 * result object its `flowyml step run` left in the (GCS) artifact store.
 *
 * Never run against live Vertex here: tests check every request against the
 * REST reference with a local server (docs/orchestrators.md).
 * @module
 */
import { relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  Orchestrator,
  type RunPipelineOptions,
  type RunResult,
  type StackLike,
  type StepResult,
} from "../../kernel/contracts.ts";
import type { PermissionNeeds } from "../../kernel/component.ts";
import type { Schema } from "../../kernel/schema.ts";
import { componentConfig } from "../../kernel/registry.ts";
import { ComponentError } from "../../kernel/errors.ts";
import type { PipelineSpec } from "../../kernel/graph.ts";
import { newRunId } from "../../kernel/engine.ts";
import { recordRunEnd, recordRunStatus, recordRunSubmitted } from "../../kernel/run_start.ts";
import type { RunStatus, StepStatus } from "../../kernel/records.ts";
import { resultObjectPath } from "../../kernel/step_job.ts";
import type { StepTaskResult } from "../../kernel/step_runner.ts";
import { optionalEnv, resolveSecret, secretPermissions } from "../s3/secrets.ts";
import { compilePipelineSpec, kfpName, taskNames } from "./compile.ts";
import { JOB_STATES, TASK_STATES, type VertexConfig, vertexOrchestratorSchema } from "./config.ts";

export { vertexOrchestratorSchema };

/** A Vertex PipelineJob as the REST API returns it (the fields used here). */
export interface PipelineJob {
  name: string;
  state?: string;
  error?: { code?: number; message?: string };
  jobDetail?: {
    taskDetails?: {
      taskName?: string;
      state?: string;
      startTime?: string;
      endTime?: string;
      error?: { message?: string };
    }[];
  };
}

interface Tracked {
  stack: StackLike;
  pipeline: PipelineSpec;
  startedAt: number;
  recorded: Map<string, string>;
}

/** Runs pipelines on Vertex AI Pipelines. */
export class VertexOrchestrator extends Orchestrator {
  /** The `type:` of this orchestrator in flowyml.yaml. */
  static readonly type = "vertex";
  /** Validates a `type: vertex` config before the orchestrator is built. */
  static readonly configSchema: Schema<VertexConfig> = vertexOrchestratorSchema;
  /** Parsed config. */
  readonly config: VertexConfig;
  #runs = new Map<string, Tracked>();

  /** Parse `options` (defaults applied; a config the registry already validated is taken as is). */
  constructor(options: Partial<VertexConfig> & { name?: string } = {}) {
    super(options.name ?? "vertex");
    this.config = componentConfig(vertexOrchestratorSchema, options);
  }

  /** `…/v1/projects/{p}/locations/{region}/pipelineJobs`. */
  jobsUrl(): string {
    const { project, region } = this.config;
    const root = (this.config.api_endpoint ?? `https://${region}-aiplatform.googleapis.com`)
      .replace(/\/+$/, "");
    return `${root}/v1/projects/${project}/locations/${region}/pipelineJobs`;
  }

  async #token(): Promise<string> {
    const t = await resolveSecret(this.config.token, `${this.name}: token`) ??
      optionalEnv("GOOGLE_OAUTH_ACCESS_TOKEN");
    if (t) return t;
    try {
      const { GoogleAuth } = await import("google-auth-library");
      const auth = new GoogleAuth({ scopes: ["https://www.googleapis.com/auth/cloud-platform"] });
      const token = await auth.getAccessToken();
      if (!token) throw new Error("no token returned");
      return token;
    } catch (err) {
      throw new ComponentError(`${this.name}: no OAuth token: ${(err as Error).message}`, {
        hint: "run `gcloud auth application-default login`, or set orchestrator.token",
      });
    }
  }

  async #call(method: string, url: string, body?: unknown): Promise<PipelineJob> {
    const res = await fetch(url, {
      method,
      headers: {
        authorization: `Bearer ${await this.#token()}`,
        "content-type": "application/json",
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) {
      let msg = text.slice(0, 500);
      try {
        msg = JSON.parse(text).error?.message ?? msg;
      } catch { /* not JSON */ }
      throw new ComponentError(`${this.name}: ${method} ${url} → ${res.status}: ${msg}`, {
        hint: res.status === 401 || res.status === 403
          ? "check the token / ADC and that it may use Vertex AI in this project"
          : "check orchestrator.project and region",
      });
    }
    return text ? JSON.parse(text) : ({} as PipelineJob);
  }

  /** The request body of `pipelineJobs.create` for a run. */
  #jobBody(pipeline: PipelineSpec, options: RunPipelineOptions, runId: string) {
    const image = this.config.image ?? options.docker?.image;
    if (!image) {
      throw new ComponentError(`${this.name}: no image to run the steps in`, {
        hint: "set orchestrator.image to what `flowyml image build` pushed to the gcr registry",
      });
    }
    const params = options.params ?? {};
    const root = this.config.pipeline_root ?? options.stack.artifactStore.uriFor("vertex_root");
    if (!root.startsWith("gs://")) {
      throw new ComponentError(`${this.name}: the pipeline root ${root} is not on GCS`, {
        hint: "use a gcs artifact store, or set orchestrator.pipeline_root: gs://bucket/path",
      });
    }
    const spec = compilePipelineSpec(pipeline, {
      image,
      stack: this.config.stack ?? options.stack.name,
      pipelinePath: this.#imagePath(pipeline),
      cli: `${this.config.app_dir}/cli/main.ts`,
      params,
      resources: options.resources,
      env: options.docker?.env,
      target: "vertex",
    });
    return {
      displayName: `${pipeline.name} ${runId}`,
      pipelineSpec: spec,
      runtimeConfig: { gcsOutputDirectory: root, parameterValues: params },
      labels: { ...this.config.labels, "flowyml-pipeline": kfpName(pipeline.name).slice(0, 63) },
      ...(this.config.service_account ? { serviceAccount: this.config.service_account } : {}),
      ...(this.config.network ? { network: this.config.network } : {}),
    };
  }

  #imagePath(pipeline: PipelineSpec): string {
    const src = pipeline.source;
    if (!src?.startsWith("file:")) {
      if (src) return src;
      throw new ComponentError(`${this.name}: pipeline "${pipeline.name}" has no source module`);
    }
    const rel = relative(resolve(this.config.project_root ?? Deno.cwd()), fileURLToPath(src));
    return `${this.config.app_dir}/${rel}`;
  }

  /**
   * Compiles the pipeline to a KFP pipeline spec, records the run as submitted and creates a
   * Vertex PipelineJob (`pipelineJobs.create`); returns the run id, which is the job id.
   */
  override async runPipeline(pipeline: PipelineSpec, options: RunPipelineOptions): Promise<string> {
    const runId = kfpName(newRunId(pipeline.name)).slice(0, 128);
    const body = this.#jobBody(pipeline, options, runId);
    const meta = options.stack.metadataStore;
    const extra = { orchestrator: "vertex" };
    const record = await recordRunSubmitted(pipeline, { ...options, runId, extra });
    let job: PipelineJob;
    try {
      job = await this.#call("POST", `${this.jobsUrl()}?pipelineJobId=${runId}`, body);
    } catch (err) {
      await recordRunEnd(meta, runId, { status: "failed", error: String(err) });
      throw err;
    }
    await meta.updateRun(runId, { extra: { ...record.extra, vertexJob: job.name } });
    this.#runs.set(runId, {
      stack: options.stack,
      pipeline,
      startedAt: Date.now(),
      recorded: new Map(),
    });
    return runId;
  }

  /** The job of a run (`pipelineJobs.get`). */
  #getJob(runId: string): Promise<PipelineJob> {
    return this.#call("GET", `${this.jobsUrl()}/${runId}`);
  }

  /** The run's status from its PipelineJob's state (`pipelineJobs.get`). */
  override async getRunStatus(runId: string): Promise<RunStatus> {
    const job = await this.#getJob(runId);
    return JOB_STATES[job.state ?? ""] ?? "pending";
  }

  /** Asks Vertex to cancel the run's PipelineJob (`pipelineJobs.cancel`); returns without waiting. */
  override async cancelRun(runId: string): Promise<void> {
    await this.#call("POST", `${this.jobsUrl()}/${runId}:cancel`, {});
  }

  /**
   * Polls the PipelineJob every `poll_ms`, recording task states as step runs (outputs from the
   * result objects completed tasks leave in the artifact store), until the job ends. Only for
   * runs this process started.
   */
  override async waitForRun(runId: string): Promise<RunResult> {
    const run = this.#runs.get(runId);
    if (!run) {
      throw new ComponentError(`${this.name}: run ${runId} was not started by this process`, {
        hint: "use `flowyml runs show <id>`, or the Vertex console",
      });
    }
    for (;;) {
      const job = await this.#getJob(runId);
      const steps = await this.#syncSteps(run, runId, job);
      const status = JOB_STATES[job.state ?? ""] ?? "pending";
      if (status === "completed" || status === "failed" || status === "cancelled") {
        const error = job.error?.message;
        await recordRunEnd(run.stack.metadataStore, runId, { status, error });
        this.#runs.delete(runId);
        return {
          runId,
          status,
          outputs: {},
          steps,
          ...(error ? { error: new ComponentError(error) } : {}),
          durationMs: Date.now() - run.startedAt,
        };
      }
      await recordRunStatus(run.stack.metadataStore, runId, status);
      await new Promise((r) => setTimeout(r, this.config.poll_ms));
    }
  }

  /** Task states → step records (outputs from the result objects of completed tasks). */
  async #syncSteps(run: Tracked, runId: string, job: PipelineJob) {
    const byTask = new Map([...taskNames(run.pipeline.steps)].map(([s, t]) => [t, s]));
    const steps: Record<string, StepResult> = {};
    for (const d of job.jobDetail?.taskDetails ?? []) {
      const step = byTask.get(d.taskName ?? "");
      if (!step) continue; // the root DAG's own task
      const status = (TASK_STATES[d.state ?? ""] ?? "pending") as StepStatus;
      const startedAt = d.startTime ? Date.parse(d.startTime) : undefined;
      const endedAt = d.endTime ? Date.parse(d.endTime) : undefined;
      const durationMs = startedAt && endedAt ? endedAt - startedAt : 0;
      const result = status === "completed" ? await this.#result(run, runId, step) : undefined;
      steps[step] = {
        status,
        cached: false,
        durationMs,
        attempts: status === "pending" ? 0 : 1,
        outputs: result?.outputs ?? {},
        ...(d.error?.message ? { error: d.error.message } : {}),
        worker: `vertex:${d.taskName}`,
      };
      if (run.recorded.get(step) === status) continue;
      run.recorded.set(step, status);
      await this.#record(run, { runId, step, status, startedAt, endedAt, result, d });
    }
    return steps;
  }

  async #result(run: Tracked, runId: string, step: string) {
    try {
      const bytes = await run.stack.artifactStore.readBytes(resultObjectPath(runId, step));
      const doc = JSON.parse(new TextDecoder().decode(bytes));
      return doc.status === "completed" ? doc.result as StepTaskResult : undefined;
    } catch {
      return undefined; // the step records itself when it reaches the metadata store
    }
  }

  async #record(run: Tracked, r: {
    runId: string;
    step: string;
    status: StepStatus;
    startedAt?: number;
    endedAt?: number;
    result?: StepTaskResult;
    d: NonNullable<NonNullable<PipelineJob["jobDetail"]>["taskDetails"]>[number];
  }): Promise<void> {
    const meta = run.stack.metadataStore;
    const stepRun = {
      runId: r.runId,
      step: r.step,
      status: r.status,
      cached: false,
      attempts: r.status === "pending" ? 0 : 1,
      startedAt: r.startedAt,
      endedAt: r.endedAt,
      durationMs: r.startedAt && r.endedAt ? r.endedAt - r.startedAt : undefined,
      worker: `vertex:${r.d.taskName}`,
      ...(r.d.error?.message ? { error: r.d.error.message } : {}),
      ...(r.result ? { outputs: r.result.outputs } : {}),
    };
    if (!r.result) return await meta.upsertStepRun(stepRun);
    const at = r.endedAt ?? Date.now();
    await meta.recordStepCompletion({
      stepRun,
      artifacts: Object.entries(r.result.outputs).map(([name, ref]) => ({
        ...ref,
        runId: r.runId,
        step: r.step,
        name,
        createdAt: at,
      })),
      metrics: Object.entries(r.result.metrics ?? {}).map(([name, value]) => ({
        runId: r.runId,
        step: r.step,
        name,
        value,
        at,
      })),
    });
  }

  /**
   * Net access to the API host and Google's OAuth and metadata hosts, the credential env vars,
   * and whatever the `token` secret reference needs.
   */
  override permissions(): PermissionNeeds {
    const host = new URL(
      this.config.api_endpoint ?? `https://${this.config.region}-aiplatform.googleapis.com`,
    ).host;
    const needs: PermissionNeeds = {
      net: [host, "oauth2.googleapis.com", "metadata.google.internal"],
      env: ["GOOGLE_OAUTH_ACCESS_TOKEN", "GOOGLE_APPLICATION_CREDENTIALS"],
    };
    secretPermissions(this.config.token, needs);
    return needs;
  }

  /** The parsed config without `name`; `token` only when it is a reference, never a literal. */
  override toDict(): Record<string, unknown> {
    const { name: _, token, ...rest } = this.config;
    return { type: "vertex", ...rest, ...(token && typeof token === "object" ? { token } : {}) };
  }
}
