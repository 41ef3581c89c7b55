/**
 * Config of the `kubernetes` orchestrator: one Kubernetes Job per step
 * attempt, running the image `flowyml image build` made. Light: validating a
 * config loads neither `@kubernetes/client-node` nor any kubeconfig.
 * @module
 */
import { z } from "zod";
import type { Schema } from "../../kernel/schema.ts";

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/);
const k8sName = z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/).max(253);

/** A toleration, with the Kubernetes field names (paste them from a Pod spec). */
const tolerationSchema = z.object({
  key: z.string().optional(),
  operator: z.enum(["Equal", "Exists"]).optional(),
  value: z.string().optional(),
  effect: z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]).optional(),
  tolerationSeconds: z.number().int().optional(),
}).strict();

/** A toleration of a Pod spec, with the Kubernetes field names. */
export interface Toleration {
  /** Taint key it matches (none: every key, with `operator: Exists`). */
  key?: string;
  /** `Equal` (key and value match) or `Exists` (key only); Kubernetes' default is `Equal`. */
  operator?: "Equal" | "Exists";
  /** Taint value it matches (with `operator: Equal`). */
  value?: string;
  /** Taint effect it matches (none: every effect). */
  effect?: "NoSchedule" | "PreferNoSchedule" | "NoExecute";
  /** With `effect: NoExecute`: how long the pod stays bound after the taint appears, in s. */
  tolerationSeconds?: number;
}

/** Where the steps carrying one `resources.labels` entry run. */
export interface NodePool {
  /** nodeSelector of those step pods (default none). */
  node_selector: Record<string, string>;
  /** Tolerations of those step pods (default none). */
  tolerations: Toleration[];
}

/** A key of a Secret, given to a step as an env var (`valueFrom.secretKeyRef`). */
export interface SecretKeyRef {
  /** Name of the Secret in the namespace. */
  secret: string;
  /** Key in the Secret. */
  key: string;
  /** Start the pod even when the Secret or key is missing. */
  optional?: boolean;
}

/** Parsed kubernetes orchestrator config (`orchestrator: { type: kubernetes, … }`). */
export interface KubernetesConfig {
  /** Instance name (default `kubernetes`). */
  name?: string;
  /** Image of the steps, `host/repo:tag[@sha256:…]` (default: the run's `docker.image`). */
  image?: string;
  /**
   * Kubeconfig file (default: `$KUBECONFIG`, else ~/.kube/config, else the in-cluster service
   * account).
   */
  kubeconfig?: string;
  /** Kubeconfig context (default: its current-context). */
  context?: string;
  /** Namespace of the Jobs (default: the context's namespace, else `default`). */
  namespace?: string;
  /** Service account the step pods run as. */
  service_account?: string;
  /** imagePullPolicy of the step containers (default `IfNotPresent`). */
  image_pull_policy: "Always" | "IfNotPresent" | "Never";
  /** Secrets for a private registry (default none). */
  image_pull_secrets: string[];
  /** Env vars from Secret keys, by variable name; values never appear in a manifest. */
  secret_env: Record<string, SecretKeyRef>;
  /** Secrets whose every key becomes an env var (`envFrom.secretRef`; default none). */
  env_from_secrets: string[];
  /** Literal, non-secret env of every step (secrets go in `secret_env`). */
  env: Record<string, string>;
  /**
   * An existing ConfigMap whose `flowyml.yaml` key the steps use (else the driver uploads
   * `config_file` as a ConfigMap for the run, and deletes it after).
   */
  config_map?: string;
  /**
   * flowyml.yaml given to the steps (default: `$FLOWYML_CONFIG`, else ./flowyml.yaml); it must
   * reference secrets (`{env: NAME}`), never hold them.
   */
  config_file?: string;
  /** nodeSelector of every step pod (default none). */
  node_selector: Record<string, string>;
  /** Tolerations of every step pod (default none). */
  tolerations: Toleration[];
  /**
   * Per `resources.labels` entry: the node pool of steps carrying it (a `key=value` label with no
   * pool becomes a node selector itself).
   */
  node_pools: Record<string, NodePool>;
  /** Extended resource that `resources.gpu` asks for (default `nvidia.com/gpu`). */
  gpu_resource: string;
  /**
   * Node label that `resources.gpu: "type:count"` selects on, e.g.
   * cloud.google.com/gke-accelerator.
   */
  gpu_type_label?: string;
  /** How long Kubernetes keeps a finished Job (and its pod and logs), in s (default 3600). */
  ttl_seconds_after_finished: number;
  /** Hard limit of one attempt in the cluster, in s (the step's own timeout applies too). */
  active_deadline_seconds?: number;
  /** More labels of Jobs and pods (default none). */
  labels: Record<string, string>;
  /** Annotations of the Jobs (default none). */
  annotations: Record<string, string>;
  /** Stack the step uses in the image (default: the run's). */
  stack?: string;
  /** Folder `image build` packed (default: cwd). */
  project_root?: string;
  /** Where the project is in the image (default `/app`). */
  app_dir: string;
  /** The flowyml CLI module in the image (default `/app/cli/main.ts`). */
  cli: string;
  /** Job and pod status poll interval in ms (default 1000). */
  poll_ms: number;
  /** Lines of a failed pod's log kept in the step's error (default 40). */
  log_lines: number;
}

/** Where steps with a given `resources.labels` entry go. */
const nodePoolSchema = z.object({
  node_selector: z.record(z.string(), z.string()).default({}),
  tolerations: z.array(tolerationSchema).default([]),
}).strict();

/** A key of a Secret, given to the step as an env var (`valueFrom.secretKeyRef`). */
const secretKeySchema = z.object({
  secret: k8sName.describe("name of the Secret in the namespace"),
  key: z.string().min(1).describe("key in the Secret"),
  optional: z.boolean().optional(),
}).strict();

const kubernetesObject = z.object({
  name: z.string().optional(),
  image: z.string().optional().describe(
    "image of the steps, `host/repo:tag[@sha256:…]` (default: the run's docker.image)",
  ),
  kubeconfig: z.string().optional().describe(
    "kubeconfig file (default: $KUBECONFIG, else ~/.kube/config, else the in-cluster service account)",
  ),
  context: z.string().optional().describe("kubeconfig context (default: its current-context)"),
  namespace: z.string().optional().describe(
    "namespace of the Jobs (default: the context's namespace, else `default`)",
  ),
  service_account: z.string().optional().describe("service account the step pods run as"),
  image_pull_policy: z.enum(["Always", "IfNotPresent", "Never"]).default("IfNotPresent"),
  image_pull_secrets: z.array(k8sName).default([]).describe("Secrets for a private registry"),
  secret_env: z.record(envName, secretKeySchema).default({}).describe(
    "env vars from Secret keys (`valueFrom.secretKeyRef`); values never appear in a manifest",
  ),
  env_from_secrets: z.array(k8sName).default([]).describe(
    "Secrets whose every key becomes an env var (`envFrom.secretRef`)",
  ),
  env: z.record(envName, z.string()).default({}).describe(
    "literal, non-secret env of every step (secrets go in secret_env)",
  ),
  config_map: k8sName.optional().describe(
    "an existing ConfigMap whose `flowyml.yaml` key the steps use (else the driver uploads " +
      "config_file as a ConfigMap for the run, and deletes it after)",
  ),
  config_file: z.string().optional().describe(
    "flowyml.yaml given to the steps (default: $FLOWYML_CONFIG, else ./flowyml.yaml); it " +
      "must reference secrets (`{env: NAME}`), never hold them",
  ),
  node_selector: z.record(z.string(), z.string()).default({})
    .describe("nodeSelector of every step pod"),
  tolerations: z.array(tolerationSchema).default([]).describe("tolerations of every step pod"),
  node_pools: z.record(z.string(), nodePoolSchema).default({}).describe(
    "per `resources.labels` entry: the node selector and tolerations of steps carrying it " +
      "(a `key=value` label with no pool becomes a node selector itself)",
  ),
  gpu_resource: z.string().default("nvidia.com/gpu").describe(
    "extended resource that `resources.gpu` asks for",
  ),
  gpu_type_label: z.string().optional().describe(
    'node label that `resources.gpu: "type:count"` selects on, e.g. ' +
      "cloud.google.com/gke-accelerator",
  ),
  ttl_seconds_after_finished: z.number().int().min(0).default(3600).describe(
    "how long Kubernetes keeps a finished Job (and its pod and logs)",
  ),
  active_deadline_seconds: z.number().int().positive().optional().describe(
    "hard limit of one attempt in the cluster (the step's own timeout applies too)",
  ),
  labels: z.record(z.string(), z.string()).default({}).describe("more labels of Jobs and pods"),
  annotations: z.record(z.string(), z.string()).default({}).describe("annotations of the Jobs"),
  stack: z.string().optional().describe("stack the step uses in the image (default: the run's)"),
  project_root: z.string().optional().describe("folder `image build` packed (default: cwd)"),
  app_dir: z.string().default("/app").describe("where the project is in the image"),
  cli: z.string().default("/app/cli/main.ts").describe("the flowyml CLI module in the image"),
  poll_ms: z.number().int().positive().default(1000).describe("Job and pod status poll interval"),
  log_lines: z.number().int().positive().default(40)
    .describe("lines of a failed pod's log kept in the step's error"),
}).strict();

/** Config schema of the kubernetes orchestrator (parses to {@linkcode KubernetesConfig}). */
export const kubernetesOrchestratorSchema: Schema<KubernetesConfig> = kubernetesObject;
