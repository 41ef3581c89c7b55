/**
 * `AirflowOrchestrator` (`type: airflow`): writes the pipeline's DAG file
 * (dag.ts) into `dag_folder`, triggers a run through Airflow 3's stable REST
 * API (`POST /api/v2/dags/{dag_id}/dagRuns`, the flowyml run id as
 * `dag_run_id`), and maps dag-run and task-instance states to run and step
 * records. Airflow runs the steps, so the kernel's engine does not: the run
 * record is the kernel's (`recordRunSubmitted`, `recordRunStatus`,
 * `recordRunEnd` in kernel/run_start.ts). Cancel marks the dag run failed
 * (`PATCH …/dagRuns/{id}`).
 *
 * Never run against a live Airflow here: tests check the requests with a
 * local server (docs/orchestrators.md).
 * @module
 */
import { join, relative, resolve } from "node:path";
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
import { resolveSecret, secretPermissions } from "../s3/secrets.ts";
import { compileAirflowDag, taskId } from "./dag.ts";
import {
  type AirflowConfig,
  airflowOrchestratorSchema,
  DAG_RUN_STATES,
  TASK_STATES,
} from "./config.ts";

export { airflowOrchestratorSchema };

interface Tracked {
  stack: StackLike;
  pipeline: PipelineSpec;
  dagId: string;
  startedAt: number;
}

/** Runs pipelines as Airflow DAG runs. */
export class AirflowOrchestrator extends Orchestrator {
  /** The `type:` of this orchestrator in flowyml.yaml. */
  static readonly type = "airflow";
  /** Validates a `type: airflow` config before the orchestrator is built. */
  static readonly configSchema: Schema<AirflowConfig> = airflowOrchestratorSchema;
  /** Parsed config. */
  readonly config: AirflowConfig;
  #runs = new Map<string, Tracked>();
  #jwt?: string;

  /** Parse `options` (defaults applied; a config the registry already validated is taken as is). */
  constructor(options: Partial<AirflowConfig> & { name?: string } = {}) {
    super(options.name ?? "airflow");
    this.config = componentConfig(airflowOrchestratorSchema, options);
  }

  async #authHeader(): Promise<string> {
    const c = this.config;
    const w = this.name;
    if (c.auth === "token") return `Bearer ${await resolveSecret(c.token, `${w}: token`) ?? ""}`;
    const user = await resolveSecret(c.username, `${w}: username`) ?? "";
    const pass = await resolveSecret(c.password, `${w}: password`) ?? "";
    if (c.auth === "basic") return `Basic ${btoa(`${user}:${pass}`)}`;
    if (!this.#jwt) {
      const res = await fetch(`${c.url.replace(/\/+$/, "")}/auth/token`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ username: user, password: pass }),
      });
      if (!res.ok) {
        throw new ComponentError(`${w}: POST /auth/token → ${res.status}: ${await res.text()}`);
      }
      this.#jwt = (await res.json()).access_token;
    }
    return `Bearer ${this.#jwt}`;
  }

  async #call(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
    const res = await fetch(`${this.config.url.replace(/\/+$/, "")}${path}`, {
      method,
      headers: { authorization: await this.#authHeader(), "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) {
      let msg = text.slice(0, 500);
      try {
        const j = JSON.parse(text);
        msg = typeof j.detail === "string" ? j.detail : JSON.stringify(j.detail ?? j);
      } catch { /* not JSON */ }
      throw new ComponentError(`${this.name}: ${method} ${path} → ${res.status}: ${msg}`, {
        hint: res.status === 401 || res.status === 403
          ? "check orchestrator.auth and its credentials"
          : res.status === 404
          ? "is the DAG file in Airflow's dags folder and parsed? (`airflow dags list`)"
          : undefined,
      });
    }
    return text ? JSON.parse(text) : {};
  }

  /** The DAG file text of `pipeline` for this orchestrator's settings. */
  dagFile(pipeline: PipelineSpec, options: RunPipelineOptions): string {
    const image = this.config.image ?? options.docker?.image;
    if (!image) {
      throw new ComponentError(`${this.name}: no image to run the steps in`, {
        hint: "set orchestrator.image to what `flowyml image build` pushed",
      });
    }
    const src = pipeline.source;
    if (!src) throw new ComponentError(`${this.name}: pipeline "${pipeline.name}" has no source`);
    const path = src.startsWith("file:")
      ? `${this.config.app_dir}/${
        relative(resolve(this.config.project_root ?? Deno.cwd()), fileURLToPath(src))
      }`
      : src;
    return compileAirflowDag(pipeline, {
      image,
      stack: this.config.stack ?? options.stack.name,
      pipelinePath: path,
      cli: `${this.config.app_dir}/cli/main.ts`,
      params: options.params,
      dagId: this.dagId(pipeline),
      operator: this.config.operator,
      namespace: this.config.namespace,
      resources: options.resources,
    });
  }

  /** The DAG id of a pipeline. */
  dagId(pipeline: PipelineSpec): string {
    return taskId(this.config.dag_id ?? pipeline.name);
  }

  /**
   * Compiles the pipeline to a DAG file (written to `dag_folder` when set), records the run as
   * submitted and triggers a DAG run whose id is the run id, with the params as its `conf`.
   */
  override async runPipeline(pipeline: PipelineSpec, options: RunPipelineOptions): Promise<string> {
    const dagId = this.dagId(pipeline);
    const text = this.dagFile(pipeline, options);
    if (this.config.dag_folder) {
      await Deno.mkdir(this.config.dag_folder, { recursive: true });
      await Deno.writeTextFile(join(this.config.dag_folder, `flowyml_${dagId}.py`), text);
    }
    const runId = newRunId(pipeline.name);
    const extra = { orchestrator: "airflow", dagId };
    await recordRunSubmitted(pipeline, { ...options, runId, extra });
    try {
      await this.#call("POST", `/api/v2/dags/${encodeURIComponent(dagId)}/dagRuns`, {
        dag_run_id: runId,
        logical_date: null,
        conf: options.params ?? {},
        note: `flowyml run ${runId}`,
      });
    } catch (err) {
      const meta = options.stack.metadataStore;
      await recordRunEnd(meta, runId, { status: "failed", error: String(err) });
      throw err;
    }
    this.#runs.set(runId, { stack: options.stack, pipeline, dagId, startedAt: Date.now() });
    return runId;
  }

  #path(t: Tracked, runId: string): string {
    return `/api/v2/dags/${encodeURIComponent(t.dagId)}/dagRuns/${encodeURIComponent(runId)}`;
  }

  #tracked(runId: string): Tracked {
    const t = this.#runs.get(runId);
    if (!t) throw new ComponentError(`${this.name}: run ${runId} was not started by this process`);
    return t;
  }

  /** The run's status from its DAG run's state; only for runs this process started. */
  override async getRunStatus(runId: string): Promise<RunStatus> {
    const r = await this.#call("GET", this.#path(this.#tracked(runId), runId));
    return DAG_RUN_STATES[String(r.state)] ?? "pending";
  }

  /** Marks the DAG run failed (Airflow's way to stop one); only for runs this process started. */
  override async cancelRun(runId: string): Promise<void> {
    await this.#call("PATCH", this.#path(this.#tracked(runId), runId), { state: "failed" });
  }

  /**
   * Polls the DAG run every `poll_ms`, recording its task instances as step runs, until it
   * succeeds or fails. Only for runs this process started.
   */
  override async waitForRun(runId: string): Promise<RunResult> {
    const t = this.#tracked(runId);
    for (;;) {
      const status = await this.getRunStatus(runId);
      const steps = await this.#syncSteps(t, runId);
      if (status === "completed" || status === "failed") {
        await recordRunEnd(t.stack.metadataStore, runId, { status });
        this.#runs.delete(runId);
        return { runId, status, outputs: {}, steps, durationMs: Date.now() - t.startedAt };
      }
      await recordRunStatus(t.stack.metadataStore, runId, status);
      await new Promise((r) => setTimeout(r, this.config.poll_ms));
    }
  }

  /** Task instances → step records (a step that reached the metadata store keeps its own). */
  async #syncSteps(t: Tracked, runId: string): Promise<Record<string, StepResult>> {
    const body = await this.#call("GET", `${this.#path(t, runId)}/taskInstances`);
    const byTask = new Map(t.pipeline.steps.map((s) => [taskId(s.name), s.name]));
    const own = new Map(
      (await t.stack.metadataStore.listStepRuns(runId)).map((r) => [r.step, r]),
    );
    const steps: Record<string, StepResult> = {};
    for (const ti of (body.task_instances ?? []) as Record<string, unknown>[]) {
      const step = byTask.get(String(ti.task_id));
      if (!step) continue;
      const status = (TASK_STATES[String(ti.state)] ?? "pending") as StepStatus;
      const rec = own.get(step);
      steps[step] = {
        status,
        cached: false,
        durationMs: Number(ti.duration ?? 0) * 1000,
        attempts: Number(ti.try_number ?? 0),
        outputs: rec?.outputs ?? {},
        worker: `airflow:${ti.hostname ?? ""}`,
      };
      if (rec && (rec.status === status || rec.outputs)) continue;
      await t.stack.metadataStore.upsertStepRun({
        runId,
        step,
        status,
        cached: false,
        attempts: Number(ti.try_number ?? 0),
        durationMs: Number(ti.duration ?? 0) * 1000,
        worker: `airflow:${ti.hostname ?? ""}`,
      });
    }
    return steps;
  }

  /** Net access to the API host, what the secret references need, and writing `dag_folder`. */
  override permissions(): PermissionNeeds {
    const needs: PermissionNeeds = { net: [new URL(this.config.url).host] };
    for (const s of [this.config.token, this.config.username, this.config.password]) {
      secretPermissions(s, needs);
    }
    if (this.config.dag_folder) needs.write = [this.config.dag_folder];
    return needs;
  }

  /** The parsed config without `name` and the credentials (`token`, `username`, `password`). */
  override toDict(): Record<string, unknown> {
    const { name: _, token: _t, username: _u, password: _p, ...rest } = this.config;
    return { type: "airflow", ...rest };
  }
}
