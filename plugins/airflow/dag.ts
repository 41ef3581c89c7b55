/**
 * Export a flowyml pipeline as an **Airflow 3 DAG file** (`from airflow.sdk
 * import DAG`): one task per step that runs `flowyml step run` in the built
 * image, edges from the real graph (fan-out and fan-in included, never a
 * straight chain), `schedule=None` and a fixed `start_date`. Tasks are
 * `KubernetesPodOperator`s (default) or `BashOperator`s (`operator: "bash"`,
 * for workers that already run inside the image). The Airflow run id is the
 * flowyml run id.
 * @module
 */
import type { ResourceConfig } from "../../kernel/component.ts";
import type { PipelineSpec } from "../../kernel/contracts.ts";
import { ConfigError } from "../../kernel/errors.ts";
import { buildGraph } from "../../kernel/graph.ts";

/** Options of {@linkcode compileAirflowDag}. */
export interface AirflowDagOptions {
  /** Image every step runs in. */
  image: string;
  /** Stack the steps use inside the image. */
  stack: string;
  /** Path of the pipeline module inside the image. */
  pipelinePath: string;
  /** The flowyml CLI module in the image (default `/app/cli/main.ts`). */
  cli?: string;
  /** Run params: the DAG's `params`, with these defaults. */
  params?: Record<string, unknown>;
  /** DAG id (default: the pipeline name). */
  dagId?: string;
  /** `kubernetes` (KubernetesPodOperator, default) or `bash` (BashOperator). */
  operator?: "kubernetes" | "bash";
  /** Kubernetes namespace of the pods (default: the connection's). */
  namespace?: string;
  /** Resources of steps that set none. */
  resources?: ResourceConfig;
}

/** A Python string literal (JSON string syntax is valid Python for these characters). */
export function py(s: string): string {
  return JSON.stringify(s);
}

/** A valid Airflow task id for a step name. */
export function taskId(name: string): string {
  const id = name.replace(/[^A-Za-z0-9_.-]/g, "_");
  if (!id || id.length > 250) throw new ConfigError(`step name "${name}" is not a task id`);
  return id;
}

function command(o: AirflowDagOptions, step: string, params: string[]): string[] {
  const args = ["--run", "{{ run_id }}", "--step", step, "--stack", o.stack];
  for (const k of params) args.push("--param", `${k}={{ params.${k} | tojson }}`);
  args.push("--worker", "airflow:{{ ti.hostname }}", o.pipelinePath);
  return args;
}

function resources(res: ResourceConfig | undefined): string | undefined {
  if (!res || (res.cpu === undefined && !res.memory && !res.gpu)) return undefined;
  const limits: Record<string, string> = {};
  if (res.cpu !== undefined) limits.cpu = String(res.cpu);
  if (res.memory) limits.memory = res.memory;
  if (res.gpu) limits["nvidia.com/gpu"] = String(res.gpu).split(":").pop()!;
  return `k8s.V1ResourceRequirements(limits=json.loads(${py(JSON.stringify(limits))}))`;
}

function taskLines(
  o: AirflowDagOptions,
  step: { name: string; resources?: ResourceConfig },
  params: string[],
): string[] {
  const id = taskId(step.name);
  const cli = ["deno", "run", "-A", o.cli ?? "/app/cli/main.ts", "step", "run"];
  const args = command(o, step.name, params);
  if (o.operator === "bash") {
    const quoted = [...cli, ...args].map((a) => `'${a.replace(/'/g, `'"'"'`)}'`).join(" ");
    return [
      `    tasks[${py(id)}] = BashOperator(`,
      `        task_id=${py(id)},`,
      `        bash_command=${py(quoted)},`,
      `    )`,
    ];
  }
  const res = resources(step.resources ?? o.resources);
  return [
    `    tasks[${py(id)}] = KubernetesPodOperator(`,
    `        task_id=${py(id)},`,
    `        name=${py(`flowyml-${id}`.toLowerCase().replace(/[^a-z0-9-]/g, "-").slice(0, 63))},`,
    `        image=IMAGE,`,
    `        cmds=${pyList(cli)},`,
    `        arguments=${pyList(args)},`,
    ...(o.namespace ? [`        namespace=${py(o.namespace)},`] : []),
    ...(res ? [`        container_resources=${res},`] : []),
    `        get_logs=True,`,
    `    )`,
  ];
}

function pyList(items: string[]): string {
  return `[${items.map(py).join(", ")}]`;
}

/** The DAG file's text. */
export function compileAirflowDag(pipeline: PipelineSpec, options: AirflowDagOptions): string {
  const graph = buildGraph(pipeline.name, pipeline.steps);
  const params = options.params ?? {};
  const keys = Object.keys(params).sort();
  for (const k of keys) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new ConfigError(`param "${k}" is not a name`);
  }
  const dagId = taskId(options.dagId ?? pipeline.name);
  const bash = options.operator === "bash";
  const k8s = !bash && graph.order.some((s) => resources(s.options.resources ?? options.resources));
  const lines = [
    `"""flowyml pipeline ${pipeline.name}: written by \`flowyml compile --target airflow\`.`,
    "",
    "Each task runs one step with `flowyml step run` in the pipeline's image; the edges are",
    "the pipeline's graph. Edit the pipeline, not this file.",
    `"""`,
    "",
    "from __future__ import annotations",
    "",
    "import datetime",
    "import json",
    "",
    ...(bash ? ["from airflow.providers.standard.operators.bash import BashOperator"] : [
      "from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator",
    ]),
    "from airflow.sdk import DAG",
    ...(k8s ? ["from kubernetes.client import models as k8s"] : []),
    "",
    `IMAGE = ${py(options.image)}`,
    `PARAMS = json.loads(${py(JSON.stringify(params))})`,
    "",
    "with DAG(",
    `    dag_id=${py(dagId)},`,
    "    schedule=None,",
    "    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),",
    "    catchup=False,",
    "    params=PARAMS,",
    `    tags=["flowyml"],`,
    "):",
    "    tasks = {}",
  ];
  for (const s of graph.order) {
    lines.push(...taskLines(options, { name: s.name, resources: s.options.resources }, keys));
  }
  for (const s of graph.order) {
    for (const d of graph.downstream.get(s.name)!) {
      lines.push(`    tasks[${py(taskId(s.name))}] >> tasks[${py(taskId(d))}]`);
    }
  }
  return lines.join("\n") + "\n";
}
