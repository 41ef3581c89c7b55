/**
 * One step attempt as a Kubernetes Job, from creation to its result: create
 * the Job, poll it and its pod (`poll_ms`; the API's watch is not used) until
 * the attempt ends, stream the pod's log into the step's log once it runs,
 * read the step's result object from the artifact store when the Job
 * completes, and turn a failure into a step error with the pod's log tail.
 * The Job is deleted when the attempt was cancelled (the run's signal) or
 * will never start (a pull failure); otherwise `ttlSecondsAfterFinished`
 * keeps it, with its logs, for a while.
 * @module
 */
import type { ArtifactStore } from "../../kernel/contracts.ts";
import { resultObjectPath, type StepJobOutcome } from "../../kernel/step_job.ts";
import type { StepTask, StepTaskResult } from "../../kernel/step_runner.ts";
import { outcomeResult } from "../container/step_command.ts";
import { apiError, type Cluster } from "./cluster.ts";
import type { Manifest } from "./manifests.ts";
import { PodLogs } from "./pod_logs.ts";
import { type AttemptState, attemptState } from "./status.ts";

/** Where and how one attempt's Job runs. */
export interface JobAttempt {
  /** The cluster (and namespace) to run it in. */
  cluster: Cluster;
  /** The Job manifest (`stepJobManifest`). */
  job: Manifest;
  /** The image its pod runs (pull failures name it). */
  image: string;
  /** Where the pod leaves the step's result object. */
  store: ArtifactStore;
  /** Aborted when the attempt is cancelled or timed out: the Job is deleted. */
  signal: AbortSignal;
  /** Writes one line of the step's log. */
  log: (message: string) => void;
  /** Time between two polls of the Job, in ms. */
  pollMs: number;
  /** How many lines of the pod's log a failed attempt's error keeps. */
  logLines: number;
}

/** Run `task`'s attempt as the Job `a.job`; resolves with its result, rejects with a step error. */
export async function runJobAttempt(task: StepTask, a: JobAttempt): Promise<StepTaskResult> {
  const { cluster } = a;
  const name = (a.job.metadata as { name: string }).name;
  try {
    await cluster.batch.createNamespacedJob({ namespace: cluster.namespace, body: a.job as never });
  } catch (err) {
    throw apiError(err, `create Job ${name} in ${cluster.namespace}`, cluster);
  }
  const logs = new PodLogs(cluster, a.log);
  let end: AttemptState | undefined;
  try {
    end = await follow(name, logs, a);
    logs.stop(); // from here the engine emits the lines not yet streamed
    return await attemptResult(task, { name, end, logs }, a);
  } finally {
    logs.stop();
    if (!end || end.stuck || a.signal.aborted) await deleteJob(cluster, name);
  }
}

/** Poll the Job and its pod until the attempt ends; start the log stream once it runs. */
async function follow(name: string, logs: PodLogs, a: JobAttempt): Promise<AttemptState> {
  const { cluster } = a;
  let said = "";
  for (;;) {
    a.signal.throwIfAborted();
    const [job, pods] = await Promise.all([
      cluster.batch.readNamespacedJob({ name, namespace: cluster.namespace }),
      cluster.core.listNamespacedPod({
        namespace: cluster.namespace,
        labelSelector: `flowyml.io/job=${name}`,
      }),
    ]).catch((err) => {
      throw apiError(err, `read Job ${name} and its pods`, cluster);
    });
    const state = attemptState(job, pods.items, a.image);
    if (state.started && state.pod) logs.follow(state.pod);
    if (state.phase === "succeeded" || state.phase === "failed") return state;
    if (state.message && state.message !== said) {
      said = state.message; // e.g. unschedulable: say it once, keep waiting
      logs.say(`[kubernetes] Job ${name}: ${state.message}`);
    }
    await sleep(a.pollMs, a.signal);
  }
}

/** The step's result, or its error with the pod's log tail. */
async function attemptResult(
  task: StepTask,
  r: { name: string; end: AttemptState; logs: PodLogs },
  a: JobAttempt,
): Promise<StepTaskResult> {
  const { end, name } = r;
  const ok = end.phase === "succeeded";
  const outcome = ok ? await readOutcome(a.store, task) : undefined;
  const lines = ok && outcome?.status === "completed" ? [] : await r.logs.all(end.pod);
  const ns = a.cluster.namespace;
  const result = outcomeResult(outcome, {
    name,
    label: `pod ${end.pod ?? "(none)"} of Job ${name}`,
    ok,
    exitCode: end.exitCode ?? -1,
    lines,
    keep: a.logLines,
    why: end.message ??
      (ok ? `Job ${name} completed but left no completed result object` : `Job ${name} failed`),
    hint: end.hint ?? `kubectl -n ${ns} describe job ${name}; kubectl -n ${ns} logs job/${name}`,
  });
  // Lines already streamed live are not emitted again by the engine.
  if (result.logs) result.logs = result.logs.slice(r.logs.forwarded);
  return result;
}

/** Read the step's result object the pod left in the artifact store. */
async function readOutcome(
  store: ArtifactStore,
  task: StepTask,
): Promise<StepJobOutcome | undefined> {
  try {
    const bytes = await store.readBytes(resultObjectPath(task.runId, task.step));
    return JSON.parse(new TextDecoder().decode(bytes)) as StepJobOutcome;
  } catch {
    return undefined; // the step failed before writing it
  }
}

/** Delete a Job and its pod (background propagation); a gone Job is fine. */
async function deleteJob(cluster: Cluster, name: string): Promise<void> {
  await cluster.batch.deleteNamespacedJob({
    name,
    namespace: cluster.namespace,
    propagationPolicy: "Background",
  }).catch(() => {}); // ttlSecondsAfterFinished removes it otherwise
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(done, ms);
    function done() {
      signal.removeEventListener("abort", abort);
      resolve();
    }
    function abort() {
      clearTimeout(t);
      reject(signal.reason);
    }
    signal.addEventListener("abort", abort, { once: true });
  });
}
