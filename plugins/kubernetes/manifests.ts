/**
 * The manifests of the kubernetes orchestrator, as pure functions (tested
 * against the published schemas with `kubernetes-models`, no cluster): the
 * Job of one step attempt, the run's ConfigMap holding `flowyml.yaml`, and
 * the SelfSubjectAccessReviews `validate()` asks.
 *
 * One Job per attempt with `backoffLimit: 0`: flowyml's engine retries a
 * failed step itself (its own attempts, backoff and records), so Kubernetes
 * must not retry inside a Job as well.
 * @module
 */
import type { ResourceConfig } from "../../kernel/component.ts";
import { ConfigError } from "../../kernel/errors.ts";
import type { StepTask } from "../../kernel/step_runner.ts";
import type { KubernetesConfig, Toleration } from "./config.ts";

/** Label and annotation prefix of everything the orchestrator creates. */
const LABEL_PREFIX = "flowyml.io";
/** The single container of a step pod. */
export const STEP_CONTAINER = "step";
/** Where the run's ConfigMap is mounted in a step pod. */
const CONFIG_DIR = "/flowyml/config";
/** The ConfigMap key holding the config file. */
const CONFIG_KEY = "flowyml.yaml";

/** A plain Kubernetes object (what the API takes as JSON). */
export type Manifest = Record<string, unknown>;

/** `s` as a DNS-1123 label part: lowercase alphanumerics and `-`, at most `max` characters. */
function dnsPart(s: string, max = 63): string {
  const clean = s.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/-+/g, "-");
  return clean.slice(0, max).replace(/^-+|-+$/g, "") || "x";
}

/** `s` as a label value: at most 63 of `[A-Za-z0-9_.-]`, alphanumeric at both ends. */
export function labelValue(s: string): string {
  const clean = s.replace(/[^A-Za-z0-9_.-]+/g, "_").replace(/^[^A-Za-z0-9]+/, "");
  return clean.slice(0, 63).replace(/[^A-Za-z0-9]+$/, "");
}

/** A Job name for one step attempt: unique, at most 63 characters (pods get it as a label). */
export function jobName(task: Pick<StepTask, "runId" | "step" | "attempt">): string {
  const run = dnsPart(task.runId).split("-").filter(Boolean).at(-1)?.slice(-8) ?? "run";
  const rand = crypto.randomUUID().slice(0, 5);
  return `flowyml-${dnsPart(task.step, 30)}-${run}-a${task.attempt}-${rand}`.replace(/-+/g, "-");
}

/** The labels of a step attempt's Job and pod. */
function stepLabels(
  task: Pick<StepTask, "runId" | "step" | "attempt">,
  options: { job: string; extra?: Record<string, string> },
): Record<string, string> {
  return {
    ...options.extra,
    "app.kubernetes.io/managed-by": "flowyml",
    "app.kubernetes.io/component": "step",
    [`${LABEL_PREFIX}/run`]: labelValue(task.runId),
    [`${LABEL_PREFIX}/step`]: labelValue(task.step),
    [`${LABEL_PREFIX}/attempt`]: String(task.attempt),
    [`${LABEL_PREFIX}/job`]: options.job,
  };
}

/** A CPU quantity (`2`, `0.5`, `500m`) checked, as Kubernetes writes it. */
function cpuQuantity(cpu: string | number): string {
  const s = String(cpu).trim();
  if (!/^\d+(\.\d+)?m?$/.test(s)) {
    throw new ConfigError(`resources.cpu "${cpu}" is not a CPU quantity`, {
      hint: 'write it as 2, 0.5 or "500m"',
    });
  }
  return s;
}

/** A memory quantity (`512Mi`, `8Gi`, `1G`) checked; Kubernetes takes the same suffixes. */
function memoryQuantity(mem: string): string {
  const s = mem.trim();
  if (!/^\d+(\.\d+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$/.test(s)) {
    throw new ConfigError(`resources.memory "${mem}" is not a size`, {
      hint: 'write it as "512Mi" or "8Gi"',
    });
  }
  return s;
}

/** `gpu: 2` or `gpu: "nvidia-tesla-t4:2"` → count and optional type. */
function parseGpu(gpu: string | number): { count: number; type?: string } {
  if (typeof gpu === "number") return { count: gpu };
  const m = /^(?:([\w.-]+):)?(\d+)$/.exec(gpu.trim());
  if (!m) {
    throw new ConfigError(`resources.gpu "${gpu}" is not a GPU count`, {
      hint: 'write it as 1 or "nvidia-tesla-t4:1"',
    });
  }
  return { count: Number(m[2]), ...(m[1] ? { type: m[1] } : {}) };
}

/** Requests and limits of the step container (requests = limits: steps get what they ask for). */
function containerResources(
  cfg: Pick<KubernetesConfig, "gpu_resource">,
  res: ResourceConfig | undefined,
): Manifest | undefined {
  const limits: Record<string, string> = {};
  if (res?.cpu !== undefined) limits.cpu = cpuQuantity(res.cpu);
  if (res?.memory) limits.memory = memoryQuantity(res.memory);
  const requests = { ...limits };
  if (res?.gpu !== undefined) {
    const { count } = parseGpu(res.gpu);
    if (count > 0) limits[cfg.gpu_resource] = String(count);
  }
  return Object.keys(limits).length ? { requests, limits } : undefined;
}

/** Node selector and tolerations from the config, the step's labels and its GPU type. */
function placement(
  cfg: Pick<KubernetesConfig, "node_selector" | "tolerations" | "node_pools" | "gpu_type_label">,
  res: ResourceConfig | undefined,
): { nodeSelector: Record<string, string>; tolerations: Toleration[] } {
  const nodeSelector = { ...cfg.node_selector };
  const tolerations = [...cfg.tolerations];
  for (const label of res?.labels ?? []) {
    const pool = cfg.node_pools[label];
    if (pool) {
      Object.assign(nodeSelector, pool.node_selector);
      tolerations.push(...pool.tolerations);
    } else if (label.includes("=")) {
      const [k, ...v] = label.split("=");
      nodeSelector[k] = v.join("=");
    } else {
      throw new ConfigError(`resources.labels: "${label}" names no node pool`, {
        hint: `add orchestrator.node_pools.${label} (node_selector, tolerations), ` +
          'or write the label as "key=value" to select nodes by it',
      });
    }
  }
  const gpu = res?.gpu !== undefined ? parseGpu(res.gpu) : undefined;
  if (gpu?.type && cfg.gpu_type_label) nodeSelector[cfg.gpu_type_label] = gpu.type;
  return { nodeSelector, tolerations };
}

/** The env of the step container: literal values, then Secret keys by reference. */
function containerEnv(
  cfg: Pick<KubernetesConfig, "env" | "secret_env">,
  options: { env?: Record<string, string>; configMap?: string },
): Manifest[] {
  const literal: Record<string, string> = { NO_COLOR: "1", ...options.env, ...cfg.env };
  if (options.configMap) literal.FLOWYML_CONFIG = `${CONFIG_DIR}/${CONFIG_KEY}`;
  const env: Manifest[] = Object.entries(literal).map(([name, value]) => ({ name, value }));
  for (const [name, ref] of Object.entries(cfg.secret_env)) {
    const secretKeyRef: Manifest = { name: ref.secret, key: ref.key };
    if (ref.optional !== undefined) secretKeyRef.optional = ref.optional;
    env.push({ name, valueFrom: { secretKeyRef } });
  }
  return env;
}

/** What the Job of one step attempt is made of. */
export interface StepJobSpec {
  /** Job name ({@linkcode jobName}). */
  name: string;
  /** Namespace. */
  namespace: string;
  /** Image of the step. */
  image: string;
  /** The step attempt. */
  task: StepTask;
  /** The arguments after `flowyml step run`. */
  stepArgs: string[];
  /** Resources of the step. */
  resources?: ResourceConfig;
  /** Literal env (DockerConfig.env). */
  env?: Record<string, string>;
  /** ConfigMap holding `flowyml.yaml`, mounted at {@linkcode CONFIG_DIR}. */
  configMap?: string;
}

/** The Job (batch/v1) of one step attempt. */
export function stepJobManifest(cfg: KubernetesConfig, spec: StepJobSpec): Manifest {
  const labels = stepLabels(spec.task, { job: spec.name, extra: cfg.labels });
  const { nodeSelector, tolerations } = placement(cfg, spec.resources);
  const resources = containerResources(cfg, spec.resources);
  const container: Manifest = {
    name: STEP_CONTAINER,
    image: spec.image,
    imagePullPolicy: cfg.image_pull_policy,
    command: ["deno"],
    args: ["run", "-A", cfg.cli, "step", "run", ...spec.stepArgs],
    workingDir: cfg.app_dir,
    env: containerEnv(cfg, { env: spec.env, configMap: spec.configMap }),
    ...(cfg.env_from_secrets.length
      ? { envFrom: cfg.env_from_secrets.map((name) => ({ secretRef: { name } })) }
      : {}),
    ...(resources ? { resources } : {}),
    ...(spec.configMap
      ? { volumeMounts: [{ name: "flowyml-config", mountPath: CONFIG_DIR, readOnly: true }] }
      : {}),
  };
  const pod: Manifest = {
    restartPolicy: "Never",
    containers: [container],
    ...(cfg.service_account ? { serviceAccountName: cfg.service_account } : {}),
    ...(cfg.image_pull_secrets.length
      ? { imagePullSecrets: cfg.image_pull_secrets.map((name) => ({ name })) }
      : {}),
    ...(Object.keys(nodeSelector).length ? { nodeSelector } : {}),
    ...(tolerations.length ? { tolerations } : {}),
    ...(spec.configMap
      ? {
        volumes: [{
          name: "flowyml-config",
          configMap: { name: spec.configMap, items: [{ key: CONFIG_KEY, path: CONFIG_KEY }] },
        }],
      }
      : {}),
  };
  const deadline = activeDeadline(cfg, spec.task);
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name: spec.name,
      namespace: spec.namespace,
      labels,
      annotations: {
        ...cfg.annotations,
        [`${LABEL_PREFIX}/run-id`]: spec.task.runId,
        [`${LABEL_PREFIX}/pipeline`]: spec.task.pipeline,
        [`${LABEL_PREFIX}/step`]: spec.task.step,
      },
    },
    spec: {
      backoffLimit: 0,
      ttlSecondsAfterFinished: cfg.ttl_seconds_after_finished,
      ...(deadline ? { activeDeadlineSeconds: deadline } : {}),
      template: { metadata: { labels }, spec: pod },
    },
  };
}

/** The cluster-side deadline of an attempt: the config's, or the step's timeout, whichever is less. */
function activeDeadline(cfg: KubernetesConfig, task: StepTask): number | undefined {
  const fromTask = task.timeoutMs ? Math.ceil(task.timeoutMs / 1000) + 60 : undefined;
  const all = [cfg.active_deadline_seconds, fromTask].filter((x): x is number => !!x);
  return all.length ? Math.min(...all) : undefined;
}

/** The ConfigMap that carries `flowyml.yaml` to a run's step pods. */
export function configMapManifest(
  name: string,
  options: { namespace: string; yaml: string; labels?: Record<string, string> },
): Manifest {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name,
      namespace: options.namespace,
      labels: { ...options.labels, "app.kubernetes.io/managed-by": "flowyml" },
    },
    data: { [CONFIG_KEY]: options.yaml },
  };
}

/** One permission `validate()` checks. */
export interface AccessCheck {
  /** API group (`""` for the core group). */
  group: string;
  /** Resource, e.g. `jobs`. */
  resource: string;
  /** Verb, e.g. `create`. */
  verb: string;
  /** Subresource, e.g. `log`. */
  subresource?: string;
}

/** What the driver does in the namespace. */
export function requiredAccess(options: { uploadsConfig: boolean }): AccessCheck[] {
  const checks: AccessCheck[] = [
    { group: "batch", resource: "jobs", verb: "create" },
    { group: "batch", resource: "jobs", verb: "get" },
    { group: "batch", resource: "jobs", verb: "delete" },
    { group: "", resource: "pods", verb: "list" },
    { group: "", resource: "pods", verb: "get", subresource: "log" },
  ];
  if (options.uploadsConfig) {
    checks.push({ group: "", resource: "configmaps", verb: "create" });
    checks.push({ group: "", resource: "configmaps", verb: "delete" });
  }
  return checks;
}

/** The SelfSubjectAccessReview asking whether this user may do `check` in `namespace`. */
export function accessReviewManifest(check: AccessCheck, namespace: string): Manifest {
  return {
    apiVersion: "authorization.k8s.io/v1",
    kind: "SelfSubjectAccessReview",
    spec: {
      resourceAttributes: {
        namespace,
        verb: check.verb,
        group: check.group,
        resource: check.resource,
        ...(check.subresource ? { subresource: check.subresource } : {}),
      },
    },
  };
}

/** `create batch/jobs`, `get pods/log`: a check as kubectl auth can-i writes it. */
export function describeAccess(c: AccessCheck): string {
  const res = `${c.group ? `${c.group}/` : ""}${c.resource}${
    c.subresource ? `/${c.subresource}` : ""
  }`;
  return `${c.verb} ${res}`;
}
