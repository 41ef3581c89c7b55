/**
 * Compile a flowyml pipeline to a **KFP v2 PipelineSpec** (JSON, schemaVersion
 * 2.1.0), the format Vertex AI Pipelines and Kubeflow Pipelines both run:
 * one task per step with `dependentTasks` from the real graph, one executor
 * per step running the built image with `flowyml step run`, run params as
 * pipeline parameters, `ResourceConfig` as cpu/memory/accelerator limits, and
 * caching off (flowyml caches itself). Artifacts stay in the stack's artifact
 * store (GCS on Vertex); only their references travel.
 *
 * ```ts ignore
 * const spec = compilePipelineSpec(pipeline, {
 *   image: "us-docker.pkg.dev/p/r/flowers:v1", stack: "vertex",
 *   pipelinePath: "/app/examples/demo/pipeline.ts", params: { epochs: 300 },
 * });
 * ```
 * @module
 */
import type { ResourceConfig } from "../../kernel/component.ts";
import type { PipelineSpec } from "../../kernel/contracts.ts";
import { ConfigError } from "../../kernel/errors.ts";
import { buildGraph } from "../../kernel/graph.ts";
import type { Step } from "../../kernel/step.ts";

/** The placeholder KFP and Vertex replace with the pipeline job's name (= the flowyml run id). */
const JOB_NAME_PLACEHOLDER = "{{$.pipeline_job_name}}";

/** Options of {@linkcode compilePipelineSpec}. */
export interface CompileSpecOptions {
  /** Image every step runs in (`flowyml image build` pushed it). */
  image: string;
  /** Stack the steps use inside the image (its flowyml.yaml is in the image, or mounted). */
  stack: string;
  /** Path of the pipeline module inside the image, e.g. `/app/pipeline.ts`. */
  pipelinePath: string;
  /** The flowyml CLI module in the image (default `/app/cli/main.ts`). */
  cli?: string;
  /** Run params: they become pipeline parameters, with these values as defaults. */
  params?: Record<string, unknown>;
  /** Resources of steps that set none. */
  resources?: ResourceConfig;
  /** Env of every step container (never secrets: use the stack's secret references). */
  env?: Record<string, string>;
  /** `vertex` (default) or `kfp`: only the accelerator naming differs. */
  target?: "vertex" | "kfp";
  /** `defaultPipelineRoot`, e.g. `gs://bucket/prefix/pipeline_root`. */
  pipelineRoot?: string;
}

/** A KFP-safe name: lowercase letters, digits and dashes. */
export function kfpName(name: string): string {
  const n = name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "");
  return /^[a-z]/.test(n) ? n : `p-${n}`;
}

/** Task names of the steps (KFP-safe, unique). */
export function taskNames(steps: readonly Step[]): Map<string, string> {
  const out = new Map<string, string>();
  const taken = new Set<string>();
  for (const s of steps) {
    let n = kfpName(s.name);
    for (let i = 2; taken.has(n); i++) n = `${kfpName(s.name)}-${i}`;
    taken.add(n);
    out.set(s.name, n);
  }
  return out;
}

/** The KFP parameter type of a param's value. */
export function parameterType(v: unknown): string {
  if (typeof v === "number") return Number.isInteger(v) ? "NUMBER_INTEGER" : "NUMBER_DOUBLE";
  if (typeof v === "boolean") return "BOOLEAN";
  if (Array.isArray(v)) return "LIST";
  if (v && typeof v === "object") return "STRUCT";
  return "STRING";
}

/** `resources` of a container spec from a `ResourceConfig`. */
export function resourceSpec(
  res: ResourceConfig | undefined,
  target: "vertex" | "kfp",
): Record<string, unknown> | undefined {
  if (!res || (res.cpu === undefined && !res.memory && !res.gpu)) return undefined;
  const out: Record<string, unknown> = {};
  if (res.cpu !== undefined) out.resourceCpuLimit = String(res.cpu);
  if (res.memory) out.resourceMemoryLimit = res.memory;
  if (res.gpu) {
    const [type, count] = String(res.gpu).includes(":")
      ? String(res.gpu).split(":")
      : [target === "vertex" ? "NVIDIA_TESLA_T4" : "nvidia.com/gpu", String(res.gpu)];
    const resourceType = target === "vertex" && !type.includes(".")
      ? type.toUpperCase().replace(/-/g, "_")
      : type;
    out.accelerator = { resourceType, resourceCount: count };
  }
  return out;
}

function paramDefs(params: Record<string, unknown>): Record<string, unknown> {
  const defs: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params)) defs[k] = { parameterType: parameterType(v) };
  return defs;
}

function checkParamNames(params: Record<string, unknown>): void {
  for (const k of Object.keys(params)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) {
      throw new ConfigError(`param "${k}" cannot be a pipeline parameter name`, {
        hint: "use letters, digits and underscores",
      });
    }
  }
}

/** The container spec of one step. */
function executor(step: Step, o: CompileSpecOptions, params: string[]): Record<string, unknown> {
  const args = ["--run", JOB_NAME_PLACEHOLDER, "--step", step.name, "--stack", o.stack];
  for (const k of params) args.push("--param", `${k}={{$.inputs.parameters['${k}']}}`);
  args.push("--worker", `${o.target ?? "vertex"}:${JOB_NAME_PLACEHOLDER}`, o.pipelinePath);
  const container: Record<string, unknown> = {
    image: o.image,
    command: ["deno", "run", "-A", o.cli ?? "/app/cli/main.ts", "step", "run"],
    args,
  };
  const res = resourceSpec(step.options.resources ?? o.resources, o.target ?? "vertex");
  if (res) container.resources = res;
  const env = Object.entries(o.env ?? {}).map(([name, value]) => ({ name, value }));
  if (env.length) container.env = env;
  return { container };
}

/** Compile `pipeline` to a PipelineSpec object (JSON-serializable). */
export function compilePipelineSpec(
  pipeline: PipelineSpec,
  options: CompileSpecOptions,
): Record<string, unknown> {
  const params = options.params ?? {};
  checkParamNames(params);
  const graph = buildGraph(pipeline.name, pipeline.steps);
  const names = taskNames(graph.order);
  const keys = Object.keys(params).sort();
  const components: Record<string, unknown> = {};
  const executors: Record<string, unknown> = {};
  const tasks: Record<string, unknown> = {};
  for (const s of graph.order) {
    const t = names.get(s.name)!;
    const comp: Record<string, unknown> = { executorLabel: `exec-${t}` };
    if (keys.length) comp.inputDefinitions = { parameters: paramDefs(params) };
    components[`comp-${t}`] = comp;
    executors[`exec-${t}`] = executor(s, options, keys);
    const deps = graph.upstream.get(s.name)!.map((u) => names.get(u)!).sort();
    const task: Record<string, unknown> = {
      cachingOptions: { enableCache: false },
      componentRef: { name: `comp-${t}` },
      taskInfo: { name: t },
    };
    if (deps.length) task.dependentTasks = deps;
    if (keys.length) {
      const p: Record<string, unknown> = {};
      for (const k of keys) p[k] = { componentInputParameter: k };
      task.inputs = { parameters: p };
    }
    tasks[t] = task;
  }
  const root: Record<string, unknown> = { dag: { tasks } };
  if (keys.length) {
    const defs: Record<string, unknown> = {};
    for (const k of keys) {
      defs[k] = { parameterType: parameterType(params[k]), defaultValue: params[k] };
    }
    root.inputDefinitions = { parameters: defs };
  }
  return {
    pipelineInfo: {
      name: kfpName(pipeline.name),
      description: `flowyml pipeline ${pipeline.name}`,
    },
    components,
    deploymentSpec: { executors },
    root,
    schemaVersion: "2.1.0",
    sdkVersion: "flowyml-0.1.0",
    ...(options.pipelineRoot ? { defaultPipelineRoot: options.pipelineRoot } : {}),
  };
}
