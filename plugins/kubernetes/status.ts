/**
 * What a step attempt's Job and pod say, as one state with a clear error:
 * image pull failures (ErrImagePull, ImagePullBackOff), a container that
 * cannot be created (a missing Secret), OOMKilled, eviction, deadlines, and
 * a plain non-zero exit. Pure functions over the API's objects (the fields
 * used here), tested without a cluster.
 * @module
 */
import { STEP_CONTAINER } from "./manifests.ts";

/** The fields of a Job's status used here. */
export interface JobLike {
  metadata?: { name?: string };
  status?: {
    active?: number;
    succeeded?: number;
    failed?: number;
    conditions?: { type?: string; status?: string; reason?: string; message?: string }[];
  };
}

/** The fields of a Pod used here. */
export interface PodLike {
  metadata?: { name?: string; creationTimestamp?: Date | string };
  spec?: { containers?: { name?: string; resources?: { limits?: Record<string, unknown> } }[] };
  status?: {
    phase?: string;
    reason?: string;
    message?: string;
    conditions?: { type?: string; status?: string; reason?: string; message?: string }[];
    containerStatuses?: {
      name?: string;
      state?: {
        waiting?: { reason?: string; message?: string };
        running?: { startedAt?: Date | string };
        terminated?: { exitCode?: number; reason?: string; message?: string };
      };
    }[];
  };
}

/** Where an attempt is. */
export type AttemptPhase = "pending" | "running" | "succeeded" | "failed";

/** An attempt's state, from its Job and pod. */
export interface AttemptState {
  /** Phase of the attempt. */
  phase: AttemptPhase;
  /** Its pod, once there is one. */
  pod?: string;
  /** Whether the step container has started (its log can be read). */
  started: boolean;
  /** Exit code of the step container, once it ended. */
  exitCode?: number;
  /** Why it failed (or why it waits), for the step's error. */
  message?: string;
  /** How to fix it. */
  hint?: string;
  /** The pod will never start by itself (the Job should be deleted). */
  stuck?: boolean;
}

/** Waiting reasons that mean the image cannot be had. */
const PULL_FAILURES = new Set([
  "ErrImagePull",
  "ImagePullBackOff",
  "InvalidImageName",
  "ErrImageNeverPull",
  "RegistryUnavailable",
]);

/** Waiting reasons that mean the container cannot be made (bad spec, missing Secret). */
const CREATE_FAILURES = new Set([
  "CreateContainerConfigError",
  "CreateContainerError",
  "RunContainerError",
]);

/** The newest pod of an attempt (a Job with backoffLimit 0 has at most one that ran). */
function newestPod(pods: PodLike[]): PodLike | undefined {
  const at = (p: PodLike) => new Date(p.metadata?.creationTimestamp ?? 0).getTime();
  return [...pods].sort((a, b) => at(b) - at(a))[0];
}

/** The state of an attempt from its Job and its pods. */
export function attemptState(job: JobLike, pods: PodLike[], image: string): AttemptState {
  const pod = newestPod(pods);
  const fromPod = pod ? podState(pod, image) : { phase: "pending" as const, started: false };
  const cond = (type: string) =>
    job.status?.conditions?.find((c) => c.type === type && c.status === "True");
  if (fromPod.phase === "failed") return fromPod;
  const failed = cond("Failed");
  if (failed || (job.status?.failed ?? 0) > 0) {
    const why = failed?.reason === "DeadlineExceeded"
      ? `the Job ran past its activeDeadlineSeconds (${failed.message ?? "deadline exceeded"})`
      : `the Job failed${failed ? `: ${failed.reason}: ${failed.message ?? ""}` : ""}`;
    return { ...fromPod, phase: "failed", message: fromPod.message ?? why.trim() };
  }
  if (cond("Complete") || (job.status?.succeeded ?? 0) > 0) {
    return { ...fromPod, phase: "succeeded" };
  }
  return fromPod.phase === "succeeded" ? { ...fromPod, phase: "running" } : fromPod;
}

/** The state a pod alone shows. */
function podState(pod: PodLike, image: string): AttemptState {
  const name = pod.metadata?.name;
  const status = pod.status ?? {};
  const cs = status.containerStatuses?.find((c) => c.name === STEP_CONTAINER) ??
    status.containerStatuses?.[0];
  const waiting = cs?.state?.waiting;
  const term = cs?.state?.terminated;
  const base = { pod: name, started: !!(cs?.state?.running || term) };
  if (status.reason === "Evicted" || isDisrupted(pod)) {
    return {
      ...base,
      phase: "failed",
      message: `pod ${name} was evicted: ${status.message ?? "node pressure or preemption"}`,
      hint: "the node ran short of memory or disk, or the pod was preempted; " +
        "set resources.memory so the scheduler reserves it, and the engine's retries run it again",
    };
  }
  if (waiting?.reason && PULL_FAILURES.has(waiting.reason)) {
    return { ...base, phase: "failed", stuck: true, ...pullFailure(image, waiting) };
  }
  if (waiting?.reason && CREATE_FAILURES.has(waiting.reason)) {
    return {
      ...base,
      phase: "failed",
      stuck: true,
      message: `pod ${name}: the step container cannot be created (${waiting.reason}): ` +
        (waiting.message ?? ""),
      hint: "check that every Secret and key in secret_env / env_from_secrets exists in the " +
        "namespace, and the ConfigMap too",
    };
  }
  if (term) return terminated(base, term, memoryLimit(pod));
  if (status.phase === "Failed") {
    return {
      ...base,
      phase: "failed",
      message: `pod ${name} failed: ${status.reason ?? ""} ${status.message ?? ""}`.trim(),
    };
  }
  const unschedulable = status.conditions?.find((c) =>
    c.type === "PodScheduled" && c.status === "False" && c.reason === "Unschedulable"
  );
  if (unschedulable) {
    return { ...base, phase: "pending", message: `unschedulable: ${unschedulable.message ?? ""}` };
  }
  return { ...base, phase: base.started ? "running" : "pending" };
}

function pullFailure(image: string, waiting: { reason?: string; message?: string }) {
  return {
    message: `the image ${image} cannot be pulled (${waiting.reason})` +
      (waiting.message ? `: ${waiting.message}` : ""),
    hint: "push it with `flowyml image build --stack <s>` to a registry the cluster reaches, " +
      "check the tag or digest, and set image_pull_secrets for a private registry",
  };
}

function terminated(
  base: { pod?: string; started: boolean },
  term: { exitCode?: number; reason?: string; message?: string },
  memory: string | undefined,
): AttemptState {
  const exitCode = term.exitCode ?? -1;
  if (term.reason === "OOMKilled") {
    return {
      ...base,
      phase: "failed",
      exitCode,
      message: `the step was OOMKilled: it used more than its memory limit` +
        (memory ? ` (${memory})` : " (the node's memory)"),
      hint: "raise the step's resources.memory",
    };
  }
  if (exitCode === 0) return { ...base, phase: "succeeded", exitCode };
  return {
    ...base,
    phase: "failed",
    exitCode,
    message: `pod ${base.pod}: the step container exited with code ${exitCode}` +
      (term.reason && term.reason !== "Error" ? ` (${term.reason})` : ""),
  };
}

function isDisrupted(pod: PodLike): boolean {
  return pod.status?.phase === "Failed" &&
    !!pod.status.conditions?.some((c) =>
      c.type === "DisruptionTarget" && c.status === "True" &&
      /Evict|Preempt|Termination/i.test(c.reason ?? "")
    );
}

function memoryLimit(pod: PodLike): string | undefined {
  const c = pod.spec?.containers?.find((x) => x.name === STEP_CONTAINER);
  const m = c?.resources?.limits?.memory;
  return m === undefined ? undefined : String(m);
}
