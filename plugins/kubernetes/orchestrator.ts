/**
 * `KubernetesOrchestrator` (`type: kubernetes`): the kernel's engine
 * schedules the DAG in this process (cache, retries, timeouts, records), as
 * the `container` orchestrator does; each ready step attempt becomes one
 * Kubernetes Job (`backoffLimit: 0`: flowyml retries) running the built image
 * as `flowyml step run --record none`. The driver polls the Job and its pod,
 * streams the pod's log (the step's log lines reach the run's output), reads
 * the step's result object from the shared artifact store when the Job
 * completes, and turns image pull failures, OOMKilled, eviction and non-zero
 * exits into clear step errors with the pod's log tail (`flowyml runs show`).
 *
 * Never run against a live cluster here: the tests run this client against
 * an API server written in the tests whose pods are real podman containers
 * (docs/orchestrators.md says what that server does not reproduce).
 * @module
 */
import { Writable } from "node:stream";
import { Orchestrator, type RunPipelineOptions, type RunResult } from "../../kernel/contracts.ts";
import type { PermissionNeeds } from "../../kernel/component.ts";
import { ComponentError } from "../../kernel/errors.ts";
import type { PipelineSpec } from "../../kernel/graph.ts";
import type { RunStatus } from "../../kernel/records.ts";
import { RunBook } from "../../kernel/run_book.ts";
import type { Step } from "../../kernel/step.ts";
import { resultObjectPath, type StepJobOutcome } from "../../kernel/step_job.ts";
import type { StepTask, StepTaskResult } from "../../kernel/step_runner.ts";
import {
  findConfigFile,
  imagePathFor,
  outcomeResult,
  stepRunArgs,
} from "../container/step_command.ts";
import { apiCode, apiError, type Cluster, clusterPermissions, openCluster } from "./cluster.ts";
import { type KubernetesConfig, kubernetesOrchestratorSchema } from "./config.ts";
import {
  accessReviewManifest,
  configMapManifest,
  describeAccess,
  jobName,
  type Manifest,
  requiredAccess,
  STEP_CONTAINER,
  stepJobManifest,
} from "./manifests.ts";
import { type AttemptState, attemptState } from "./status.ts";

export { kubernetesOrchestratorSchema };

interface RunContext {
  cluster: Cluster;
  image: string;
  pipelinePath: string;
  stackName: string;
  configMap?: string;
  options: RunPipelineOptions;
}

/** Runs every step attempt as its own Kubernetes Job of the pipeline's image. */
export class KubernetesOrchestrator extends Orchestrator {
  static readonly type = "kubernetes";
  static readonly configSchema = kubernetesOrchestratorSchema;
  /** Parsed config. */
  readonly config: KubernetesConfig;
  #runs = new RunBook("kubernetes orchestrator");

  constructor(options: Partial<KubernetesConfig> & { name?: string } = {}) {
    super(options.name ?? "kubernetes");
    this.config = kubernetesOrchestratorSchema.parse({ ...options, name: undefined });
  }

  override async runPipeline(pipeline: PipelineSpec, options: RunPipelineOptions): Promise<string> {
    const image = this.config.image ?? options.docker?.image;
    if (!image) {
      throw new ComponentError("kubernetes orchestrator: no image to run the steps in", {
        hint: "build one with `flowyml image build --stack <s> pipeline.ts` and set " +
          "orchestrator.image (or run with docker.image)",
      });
    }
    const store = options.stack.artifactStore.uriFor("");
    if (store.startsWith("file:")) {
      throw new ComponentError(
        `kubernetes orchestrator: the artifact store ${store} is a local folder, which pods ` +
          "cannot reach",
        { hint: "use an s3/minio or gcs artifact store in this stack" },
      );
    }
    const cluster = openCluster(this.config);
    const run: RunContext = {
      cluster,
      image,
      pipelinePath: imagePathFor(pipeline, {
        projectRoot: this.config.project_root,
        appDir: this.config.app_dir,
        owner: "kubernetes orchestrator",
      }),
      stackName: this.config.stack ?? options.stack.name,
      options,
    };
    const uploaded = this.config.config_map ? undefined : await this.#uploadConfig(cluster);
    run.configMap = this.config.config_map ?? uploaded;
    const cleanUp = () => {
      if (uploaded) this.#deleteConfigMap(cluster, uploaded);
    };
    try {
      return await this.#runs.start(pipeline, options, {
        concurrency: options.concurrency ?? 8,
        dispatch: () => (task, step, signal) => this.#dispatch(task, step, signal, run),
        onSettled: cleanUp,
      });
    } catch (err) {
      cleanUp();
      throw err;
    }
  }

  /** Upload the config file as a ConfigMap for this run's pods; its name. */
  async #uploadConfig(cluster: Cluster): Promise<string | undefined> {
    const file = await findConfigFile(this.config.config_file);
    if (!file) return undefined;
    const name = `flowyml-config-${crypto.randomUUID().slice(0, 8)}`;
    const body = configMapManifest(name, {
      namespace: cluster.namespace,
      yaml: await Deno.readTextFile(file),
      labels: this.config.labels,
    });
    try {
      await cluster.core.createNamespacedConfigMap({
        namespace: cluster.namespace,
        body: body as never,
      });
    } catch (err) {
      throw apiError(err, `create ConfigMap ${name} in ${cluster.namespace}`, cluster);
    }
    return name;
  }

  #deleteConfigMap(cluster: Cluster, name: string): void {
    cluster.core.deleteNamespacedConfigMap({ name, namespace: cluster.namespace })
      .catch(() => {}); // best effort: it is labelled managed-by=flowyml
  }

  /** The Job manifest of one step attempt (what `#dispatch` creates). */
  jobManifest(
    task: StepTask,
    step: Step,
    run: Omit<RunContext, "cluster"> & {
      namespace: string;
    },
  ): Manifest {
    const name = jobName(task);
    return stepJobManifest(this.config, {
      name,
      namespace: run.namespace,
      image: run.image,
      task,
      stepArgs: stepRunArgs(task, {
        stack: run.stackName,
        pipelinePath: run.pipelinePath,
        worker: `kubernetes:${name}`,
      }),
      resources: step.options.resources ?? run.options.resources,
      env: run.options.docker?.env,
      configMap: run.configMap,
    });
  }

  async #dispatch(
    task: StepTask,
    step: Step,
    signal: AbortSignal,
    run: RunContext,
  ): Promise<StepTaskResult> {
    const { cluster } = run;
    const job = this.jobManifest(task, step, { ...run, namespace: cluster.namespace });
    const name = (job.metadata as { name: string }).name;
    try {
      await cluster.batch.createNamespacedJob({ namespace: cluster.namespace, body: job as never });
    } catch (err) {
      throw apiError(err, `create Job ${name} in ${cluster.namespace}`, cluster);
    }
    const onEvent = run.options.onEvent;
    const logs = new PodLogs(cluster, (message) => {
      if (onEvent) onEvent({ type: "step_log", runId: task.runId, step: task.step, message });
      else console.log(`[${task.step}] ${message}`);
    });
    let end: AttemptState | undefined;
    try {
      end = await this.#follow(cluster, { name, image: run.image, logs, signal });
      return await this.#result(run, task, { name, end, logs });
    } finally {
      logs.stop();
      if (!end || end.stuck || signal.aborted) await deleteJob(cluster, name);
    }
  }

  /** Poll the Job and its pod until the attempt ends; start the log stream once it runs. */
  async #follow(
    cluster: Cluster,
    a: { name: string; image: string; logs: PodLogs; signal: AbortSignal },
  ): Promise<AttemptState> {
    let said = "";
    for (;;) {
      a.signal.throwIfAborted();
      const [job, pods] = await Promise.all([
        cluster.batch.readNamespacedJob({ name: a.name, namespace: cluster.namespace }),
        cluster.core.listNamespacedPod({
          namespace: cluster.namespace,
          labelSelector: `flowyml.io/job=${a.name}`,
        }),
      ]).catch((err) => {
        throw apiError(err, `read Job ${a.name} and its pods`, cluster);
      });
      const state = attemptState(job, pods.items, a.image);
      if (state.started && state.pod) a.logs.follow(state.pod);
      if (state.phase === "succeeded" || state.phase === "failed") return state;
      if (state.message && state.message !== said) {
        said = state.message; // e.g. unschedulable: say it once, keep waiting
        a.logs.say(`[kubernetes] Job ${a.name}: ${state.message}`);
      }
      await sleep(this.config.poll_ms, a.signal);
    }
  }

  async #result(
    run: RunContext,
    task: StepTask,
    a: { name: string; end: AttemptState; logs: PodLogs },
  ): Promise<StepTaskResult> {
    const { end } = a;
    a.logs.stop(); // from here the engine emits the lines not yet streamed
    let outcome: StepJobOutcome | undefined;
    if (end.phase === "succeeded") outcome = await readOutcome(run, task);
    const lines = end.phase === "succeeded" && outcome?.status === "completed"
      ? []
      : await a.logs.all(end.pod);
    const result = outcomeResult(outcome, {
      name: a.name,
      label: `pod ${end.pod ?? "(none)"} of Job ${a.name}`,
      ok: end.phase === "succeeded",
      exitCode: end.exitCode ?? -1,
      lines,
      keep: this.config.log_lines,
      why: end.message ??
        (end.phase === "succeeded"
          ? `Job ${a.name} completed but left no completed result object`
          : `Job ${a.name} failed`),
      hint: end.hint ??
        `kubectl -n ${run.cluster.namespace} describe job ${a.name}; ` +
          `kubectl -n ${run.cluster.namespace} logs job/${a.name}`,
    });
    // Lines already streamed live are not emitted again by the engine.
    if (result.logs) result.logs = result.logs.slice(a.logs.forwarded);
    return result;
  }

  override getRunStatus(runId: string): Promise<RunStatus> {
    return this.#runs.status(runId);
  }

  override waitForRun(runId: string): Promise<RunResult> {
    return this.#runs.wait(runId);
  }

  /**
   * Checks the kubeconfig's context, that the namespace exists, and with
   * SelfSubjectAccessReviews that this user may create, get and delete Jobs,
   * list pods and read their logs (and manage ConfigMaps when the driver
   * uploads the config file).
   */
  override async validate(): Promise<boolean> {
    const cluster = openCluster(this.config);
    const where = `context "${cluster.context}" (${cluster.server})`;
    try {
      await cluster.core.readNamespace({ name: cluster.namespace });
    } catch (err) {
      if (apiCode(err) === 404) {
        throw new ComponentError(
          `kubernetes: namespace "${cluster.namespace}" does not exist in ${where}`,
          { hint: `kubectl create namespace ${cluster.namespace}, or set orchestrator.namespace` },
        );
      }
      if (apiCode(err) !== 403) throw apiError(err, `read namespace ${cluster.namespace}`, cluster);
      // May not read namespaces: the access reviews below still tell what matters.
    }
    const denied: string[] = [];
    for (const check of requiredAccess({ uploadsConfig: !this.config.config_map })) {
      const body = accessReviewManifest(check, cluster.namespace);
      const review = await cluster.authz.createSelfSubjectAccessReview({ body: body as never })
        .catch((err) => {
          throw apiError(err, "create SelfSubjectAccessReview", cluster);
        });
      if (!review.status?.allowed) {
        denied.push(
          `${describeAccess(check)}${review.status?.reason ? ` (${review.status.reason})` : ""}`,
        );
      }
    }
    if (denied.length) {
      throw new ComponentError(
        `kubernetes: in namespace "${cluster.namespace}" of ${where} this user may not: ` +
          denied.join(", "),
        { hint: "bind a Role with these verbs (docs/orchestrators.md has one)" },
      );
    }
    return true;
  }

  override permissions(): PermissionNeeds {
    const needs = clusterPermissions(this.config);
    needs.env!.push("FLOWYML_CONFIG");
    const cfg = this.config.config_file ?? Deno.env.get("FLOWYML_CONFIG");
    if (cfg) needs.read!.push(cfg);
    return needs;
  }

  override toDict(): Record<string, unknown> {
    const { name: _, ...rest } = this.config;
    return { type: "kubernetes", ...rest };
  }
}

/** Read the step's result object the pod left in the artifact store. */
async function readOutcome(run: RunContext, task: StepTask) {
  const store = run.options.stack.artifactStore;
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

/**
 * A step pod's log: followed live once the container runs (the step's
 * `step_log` events go to the run's output as they come), and read whole
 * for a failed attempt's error.
 */
class PodLogs {
  /** How many `step_log` lines were sent live. */
  forwarded = 0;
  #cluster: Cluster;
  #emit: (message: string) => void;
  #following?: string;
  #ctl?: AbortController;
  #buf = "";
  #stopped = false;

  constructor(cluster: Cluster, emit: (message: string) => void) {
    this.#cluster = cluster;
    this.#emit = emit;
  }

  /** Say something about the attempt in the run's output. */
  say(message: string): void {
    this.#emit(message);
  }

  /** Start following `pod`'s log (once). */
  follow(pod: string): void {
    if (this.#following) return;
    this.#following = pod;
    const sink = new Writable({
      write: (chunk, _enc, cb) => {
        this.#lines(String(chunk));
        cb();
      },
    });
    this.#cluster.log.log(this.#cluster.namespace, pod, STEP_CONTAINER, sink, { follow: true })
      .then((ctl) => (this.#ctl = ctl))
      .catch(() => {}); // live lines are a convenience: the whole log is read at the end
  }

  #lines(text: string): void {
    if (this.#stopped) return;
    this.#buf += text;
    const parts = this.#buf.split("\n");
    this.#buf = parts.pop() ?? "";
    for (const line of parts) {
      try {
        const e = JSON.parse(line);
        if (e?.event === "step_log" && typeof e.message === "string") {
          this.forwarded++;
          this.#emit(e.message);
        }
      } catch {
        // not one of step run's JSON lines
      }
    }
  }

  /** The whole log of `pod` (empty when it has none to give). */
  async all(pod: string | undefined): Promise<string[]> {
    if (!pod) return [];
    try {
      const text = await this.#cluster.core.readNamespacedPodLog({
        name: pod,
        namespace: this.#cluster.namespace,
        container: STEP_CONTAINER,
      });
      return String(text).split("\n");
    } catch {
      return [];
    }
  }

  /** Stop following. */
  stop(): void {
    this.#stopped = true;
    this.#ctl?.abort();
  }
}
