/**
 * Config of the `kubernetes` orchestrator: one Kubernetes Job per step
 * attempt, running the image `flowyml image build` made. Light: validating a
 * config loads neither `@kubernetes/client-node` nor any kubeconfig.
 * @module
 */
import { z } from "zod";

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

/** A toleration of a Pod spec. */
export type Toleration = z.output<typeof tolerationSchema>;

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

/** Config schema of the kubernetes orchestrator. */
export const kubernetesOrchestratorSchema = z.object({
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

/** Parsed kubernetes orchestrator config. */
export type KubernetesConfig = z.output<typeof kubernetesOrchestratorSchema>;
