// deno-lint-ignore-file no-explicit-any
/**
 * The kubernetes orchestrator's manifests against the published Kubernetes
 * schemas (`kubernetes-models`, generated from the OpenAPI spec), and the
 * attempt states its driver derives from Jobs and pods (pull failures,
 * OOMKilled, eviction), without a cluster.
 */
import assert from "node:assert/strict";
import { Job } from "kubernetes-models/batch/v1";
import { ConfigMap } from "kubernetes-models/v1";
import { SelfSubjectAccessReview } from "kubernetes-models/authorization.k8s.io/v1";
import { kubernetesOrchestratorSchema } from "../../plugins/kubernetes/config.ts";
import {
  accessReviewManifest,
  configMapManifest,
  jobName,
  labelValue,
  requiredAccess,
  stepJobManifest,
} from "../../plugins/kubernetes/manifests.ts";
import { attemptState, type PodLike } from "../../plugins/kubernetes/status.ts";
import type { StepTask } from "../../kernel/step_runner.ts";

const task: StepTask = {
  runId: "demo-pipeline_20260101-120000-ab12cd",
  pipeline: "demo",
  step: "Train_Model",
  attempt: 2,
  params: { epochs: 5 },
  inputs: {},
  timeoutMs: 120_000,
};

const cfg = kubernetesOrchestratorSchema.parse({
  namespace: "ml",
  service_account: "flowyml-steps",
  image_pull_secrets: ["regcred"],
  secret_env: { TEST_S3_SECRET: { secret: "s3-creds", key: "secret-key" } },
  env_from_secrets: ["more-env"],
  env: { LOG_LEVEL: "info" },
  node_selector: { "kubernetes.io/os": "linux" },
  tolerations: [{ key: "dedicated", operator: "Equal", value: "ml", effect: "NoSchedule" }],
  node_pools: {
    gpu: {
      node_selector: { pool: "gpu" },
      tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
    },
  },
  gpu_type_label: "cloud.google.com/gke-accelerator",
  labels: { team: "ml" },
});

function job(resources?: Parameters<typeof stepJobManifest>[1]["resources"]) {
  return stepJobManifest(cfg, {
    name: jobName(task),
    namespace: "ml",
    image: "registry.example.com/flowyml/demo:v1@sha256:" + "a".repeat(64),
    task,
    stepArgs: ["--run", task.runId, "--step", task.step, "/app/pipeline.ts"],
    resources,
    env: { FROM_DOCKER_CONFIG: "1" },
    configMap: "flowyml-config-1234",
  });
}

Deno.test("a step Job validates against the batch/v1 schema, with every option set", () => {
  const m = job({
    cpu: "500m",
    memory: "2Gi",
    gpu: "nvidia-tesla-t4:1",
    labels: ["gpu", "zone=a"],
  });
  new Job(m as never).validate();
  const spec = m.spec as Record<string, any>;
  assert.equal(spec.backoffLimit, 0, "flowyml retries: one Job per attempt");
  assert.equal(spec.ttlSecondsAfterFinished, 3600);
  assert.equal(spec.activeDeadlineSeconds, 180, "the step's timeout plus a margin");
  const pod = spec.template.spec;
  assert.equal(pod.restartPolicy, "Never");
  assert.deepEqual(pod.nodeSelector, {
    "kubernetes.io/os": "linux",
    pool: "gpu",
    zone: "a",
    "cloud.google.com/gke-accelerator": "nvidia-tesla-t4",
  });
  assert.equal(pod.tolerations.length, 2);
  const c = pod.containers[0];
  assert.deepEqual(c.resources, {
    requests: { cpu: "500m", memory: "2Gi" },
    limits: { cpu: "500m", memory: "2Gi", "nvidia.com/gpu": "1" },
  });
  assert.deepEqual(c.command, ["deno"]);
  assert.deepEqual(c.args.slice(0, 5), ["run", "-A", "/app/cli/main.ts", "step", "run"]);
  const secret = c.env.find((e: { name: string }) => e.name === "TEST_S3_SECRET");
  assert.deepEqual(secret, {
    name: "TEST_S3_SECRET",
    valueFrom: { secretKeyRef: { name: "s3-creds", key: "secret-key" } },
  });
  assert.ok(c.env.every((e: { value?: string }) => !e.value?.includes("secret")));
  assert.deepEqual(c.envFrom, [{ secretRef: { name: "more-env" } }]);
  const labels = (m.metadata as { labels: Record<string, string> }).labels;
  for (const v of Object.values(labels)) assert.ok(v.length <= 63 && /^[\w.-]*$/.test(v));
  assert.equal(labels["flowyml.io/job"], (m.metadata as { name: string }).name);
});

Deno.test("a minimal step Job validates; names stay within 63 characters", () => {
  const long = { ...task, step: "s".repeat(200), runId: "r".repeat(300), attempt: 12 };
  const name = jobName(long);
  assert.ok(name.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name), name);
  const bare = kubernetesOrchestratorSchema.parse({});
  const m = stepJobManifest(bare, {
    name,
    namespace: "default",
    image: "img:1",
    task: long,
    stepArgs: [],
  });
  new Job(m as never).validate();
  assert.equal(labelValue("-".repeat(5) + "x".repeat(100)).length, 63);
});

Deno.test("the schema check catches a broken Job (the validator is not a no-op)", () => {
  const m = job() as Record<string, any>;
  m.spec.template.spec.containers[0].image = 42;
  assert.throws(() => new Job(m as never).validate(), /image/);
  const n = job() as Record<string, any>;
  n.spec.backoffLimit = "zero";
  assert.throws(() => new Job(n as never).validate(), /backoffLimit/);
});

Deno.test("bad resources and unknown node pools are config errors", () => {
  assert.throws(() => job({ cpu: "two" }), /not a CPU quantity/);
  assert.throws(() => job({ memory: "lots" }), /not a size/);
  assert.throws(() => job({ labels: ["tpu"] }), /names no node pool/);
});

Deno.test("the run's ConfigMap and the access reviews validate", () => {
  new ConfigMap(configMapManifest("flowyml-config-1", {
    namespace: "ml",
    yaml: "stacks: {}\n",
    labels: { team: "ml" },
  }) as never).validate();
  const checks = requiredAccess({ uploadsConfig: true });
  assert.ok(checks.some((c) => c.resource === "pods" && c.subresource === "log"));
  assert.ok(checks.some((c) => c.group === "batch" && c.verb === "create"));
  for (const c of checks) {
    new SelfSubjectAccessReview(accessReviewManifest(c, "ml") as never).validate();
  }
});

const pod = (status: PodLike["status"], memory?: string): PodLike => ({
  metadata: { name: "p-1", creationTimestamp: new Date().toISOString() },
  spec: { containers: [{ name: "step", resources: memory ? { limits: { memory } } : {} }] },
  status,
});
const running = { status: { active: 1 } };
const failedJob = {
  status: {
    failed: 1,
    conditions: [{ type: "Failed", status: "True", reason: "BackoffLimitExceeded" }],
  },
};

Deno.test("attempt states: pull failures, OOMKilled, eviction, exit codes", () => {
  const pull = attemptState(running, [pod({
    phase: "Pending",
    containerStatuses: [{
      name: "step",
      state: { waiting: { reason: "ImagePullBackOff", message: "Back-off pulling image" } },
    }],
  })], "reg/x:1");
  assert.equal(pull.phase, "failed");
  assert.ok(pull.stuck, "a pull failure never resolves by itself: the Job is deleted");
  assert.match(pull.message!, /the image reg\/x:1 cannot be pulled \(ImagePullBackOff\)/);

  const oom = attemptState(failedJob, [pod({
    phase: "Failed",
    containerStatuses: [{
      name: "step",
      state: { terminated: { exitCode: 137, reason: "OOMKilled" } },
    }],
  }, "256Mi")], "x");
  assert.match(oom.message!, /OOMKilled.*256Mi/);
  assert.match(oom.hint!, /resources.memory/);

  const evicted = attemptState(failedJob, [pod({
    phase: "Failed",
    reason: "Evicted",
    message: "The node was low on resource: memory.",
  })], "x");
  assert.match(evicted.message!, /evicted: The node was low on resource: memory/);

  const exit = attemptState(failedJob, [pod({
    phase: "Failed",
    containerStatuses: [{ name: "step", state: { terminated: { exitCode: 1, reason: "Error" } } }],
  })], "x");
  assert.equal(exit.exitCode, 1);
  assert.match(exit.message!, /exited with code 1$/);

  const secret = attemptState(running, [pod({
    phase: "Pending",
    containerStatuses: [{
      name: "step",
      state: {
        waiting: { reason: "CreateContainerConfigError", message: 'secret "s3" not found' },
      },
    }],
  })], "x");
  assert.ok(secret.stuck);
  assert.match(secret.message!, /secret "s3" not found/);

  const done = attemptState({
    status: { succeeded: 1, conditions: [{ type: "Complete", status: "True" }] },
  }, [
    pod({
      phase: "Succeeded",
      containerStatuses: [{ name: "step", state: { terminated: { exitCode: 0 } } }],
    }),
  ], "x");
  assert.equal(done.phase, "succeeded");
  const waiting = attemptState({ status: {} }, [pod({
    phase: "Pending",
    conditions: [{
      type: "PodScheduled",
      status: "False",
      reason: "Unschedulable",
      message: "0/3 nodes",
    }],
  })], "x");
  assert.equal(waiting.phase, "pending");
  assert.match(waiting.message!, /unschedulable: 0\/3 nodes/);
  const deadline = attemptState(
    {
      status: {
        failed: 1,
        conditions: [{ type: "Failed", status: "True", reason: "DeadlineExceeded" }],
      },
    },
    [],
    "x",
  );
  assert.match(deadline.message!, /activeDeadlineSeconds/);
});
