/**
 * `KubernetesOrchestrator` (`type: kubernetes`): an `EngineOrchestrator`. The
 * kernel's engine drives the run in this process (run and step records,
 * cache, retries, timeouts, cancellation, lineage), as for the `container`
 * orchestrator; this plugin supplies the run's `dispatch` hook only: each step
 * attempt becomes one Kubernetes Job (`backoffLimit: 0`: the engine retries)
 * running the built image as `flowyml step run --record none`
 * (plugins/kubernetes/attempt.ts follows it and reads its result). The
 * config file goes to the pods as a ConfigMap made for the run and deleted
 * after it. `cancelRun` (or the run's cancellation) deletes the running Jobs.
 *
 * Never run against a live cluster here: the tests run this client against
 * an API server written in the tests whose pods are real podman containers
 * (docs/orchestrators.md says what that server does not reproduce).
 * @module
 */
import type { RunPipelineOptions } from "../../kernel/contracts.ts";
import type { PermissionNeeds } from "../../kernel/component.ts";
import type { Schema } from "../../kernel/schema.ts";
import { componentConfig } from "../../kernel/registry.ts";
import {
  EngineOrchestrator,
  type HookRun,
  type RunHooks,
} from "../../kernel/engine_orchestrator.ts";
import { ComponentError } from "../../kernel/errors.ts";
import type { PipelineSpec } from "../../kernel/graph.ts";
import type { Step } from "../../kernel/step.ts";
import type { StepTask, StepTaskResult } from "../../kernel/step_runner.ts";
import { findConfigFile, imagePathFor, stepRunArgs } from "../container/step_command.ts";
import { runJobAttempt } from "./attempt.ts";
import { apiCode, apiError, type Cluster, clusterPermissions, openCluster } from "./cluster.ts";
import { type KubernetesConfig, kubernetesOrchestratorSchema } from "./config.ts";
import {
  accessReviewManifest,
  configMapManifest,
  describeAccess,
  jobName,
  type Manifest,
  requiredAccess,
  stepJobManifest,
} from "./manifests.ts";

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
export class KubernetesOrchestrator extends EngineOrchestrator {
  /** The `type:` of this orchestrator in flowyml.yaml. */
  static readonly type = "kubernetes";
  /** Validates a `type: kubernetes` config before the orchestrator is built. */
  static readonly configSchema: Schema<KubernetesConfig> = kubernetesOrchestratorSchema;
  /** Parsed config. */
  readonly config: KubernetesConfig;

  /** Parse `options` (defaults applied; a config the registry already validated is taken as is). */
  constructor(options: Partial<KubernetesConfig> & { name?: string } = {}) {
    super(options.name ?? "kubernetes", { owner: "kubernetes orchestrator" });
    this.config = componentConfig(kubernetesOrchestratorSchema, options);
  }

  /**
   * The run's `dispatch` hook (each attempt one Job, its log lines streamed into the step's
   * log); checks the image and the artifact store first and uploads the config file as a
   * ConfigMap, which `onSettled` deletes.
   */
  protected override async hooks(
    pipeline: PipelineSpec,
    options: RunPipelineOptions,
  ): Promise<RunHooks> {
    const image = this.#image(options);
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
    return {
      concurrency: options.concurrency ?? 8,
      dispatchFor: (r) => (task, step, signal) => this.#dispatch(task, step, { signal, run, r }),
      onSettled: () => {
        if (uploaded) this.#deleteConfigMap(cluster, uploaded);
      },
    };
  }

  /** The image to run the steps in; the artifact store must be one pods can reach. */
  #image(options: RunPipelineOptions): string {
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
    return image;
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

  /** The Job manifest of one step attempt (what the `dispatch` hook creates). */
  #jobManifest(
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

  /** One attempt: its Job, followed to the step's result (plugins/kubernetes/attempt.ts). */
  #dispatch(
    task: StepTask,
    step: Step,
    a: { signal: AbortSignal; run: RunContext; r: HookRun },
  ): Promise<StepTaskResult> {
    const { cluster, image, options } = a.run;
    return runJobAttempt(task, {
      cluster,
      job: this.#jobManifest(task, step, { ...a.run, namespace: cluster.namespace }),
      image,
      store: options.stack.artifactStore,
      signal: a.signal,
      log: a.r.log(task.step),
      pollMs: this.config.poll_ms,
      logLines: this.config.log_lines,
    });
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
    const denied = await this.#deniedAccess(cluster);
    if (denied.length) {
      throw new ComponentError(
        `kubernetes: in namespace "${cluster.namespace}" of ${where} this user may not: ` +
          denied.join(", "),
        { hint: "bind a Role with these verbs (docs/orchestrators.md has one)" },
      );
    }
    return true;
  }

  /** What this user may not do of what the orchestrator needs (SelfSubjectAccessReviews). */
  async #deniedAccess(cluster: Cluster): Promise<string[]> {
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
    return denied;
  }

  /**
   * What reaching the cluster needs (its API server, the kubeconfig and the files and exec
   * credential plugin it names, the service-account folder, env broadly), plus reading the config
   * file the steps are given (`config_file`, else `$FLOWYML_CONFIG`).
   */
  override permissions(): PermissionNeeds {
    const needs = clusterPermissions(this.config);
    needs.env!.push("FLOWYML_CONFIG");
    const cfg = this.config.config_file ?? Deno.env.get("FLOWYML_CONFIG");
    if (cfg) needs.read!.push(cfg);
    return needs;
  }

  /** The parsed config without `name` (secrets are referenced by Secret name, never held). */
  override toDict(): Record<string, unknown> {
    const { name: _, ...rest } = this.config;
    return { type: "kubernetes", ...rest };
  }
}
