/**
 * The `kubernetes` orchestrator end to end with the real client
 * (`@kubernetes/client-node`) against the test API server, whose pods are
 * real podman containers of the image `flowyml image build` made and pushed
 * to a real docker-registry (tests/containers/_setup.ts): the unchanged demo
 * runs with one Job per step on Swift (S3) + PostgreSQL and gives the local
 * run's artifact hashes; a failing step's pod log reaches `flowyml runs
 * show`; a nonexistent image fails with ImagePullBackOff and a clear error;
 * `cancelRun` (the engine's cancellation) deletes the running Jobs and their
 * pods. Every request is checked against the published API. Never a live
 * cluster.
 */
import assert from "node:assert/strict";
import {
  cli,
  type ContainerEnv,
  containersAvailable,
  GRANTS,
  outputs,
  ROOT,
  setUpContainers,
  type Shown,
  shownRun,
  stackYaml,
} from "../containers/_setup.ts";
import { parseConfig } from "../../kernel/config.ts";
import { buildStack, type Stack } from "../../kernel/stack.ts";
import { keepsStepLogs } from "../../kernel/step_logs.ts";
import type { KubernetesOrchestrator } from "../../plugins/kubernetes/orchestrator.ts";
import demo from "../../examples/demo/pipeline.ts";
import "../../plugins/mod.ts";
import { type ApiServer, startApiServer } from "./_apiserver.ts";

const ok = containersAvailable();
const DEMO = "examples/demo/pipeline.ts";

/** The config: a local reference stack and kubernetes stacks (a good image, a missing one). */
async function writeConfig(e: ContainerEnv, api: ApiServer): Promise<string> {
  const kubeconfig = `${e.tmp}/kubeconfig`;
  await api.writeKubeconfig(kubeconfig, "flowyml");
  const config = `${e.tmp}/flowyml.yaml`;
  const k8s = (image: string) => ({
    type: "kubernetes",
    image,
    kubeconfig,
    config_file: config,
    project_root: ROOT,
    secret_env: { TEST_S3_SECRET: { secret: "s3-credentials", key: "secret-key" } },
    poll_ms: 300,
  });
  const missing = `${e.registryHost}/flowyml/does-not-exist:nope`;
  const pg = await e.pg("k8s");
  await Deno.writeTextFile(
    config,
    stackYaml(e, {
      ref: { bucket: "ref", pg: await e.pg("ref") },
      k8s: { orchestrator: k8s(e.image), bucket: "k8s", pg },
      k8s_missing: { orchestrator: k8s(missing), bucket: "k8s", pg },
    }),
  );
  return config;
}

interface Ctx {
  e: ContainerEnv;
  api: ApiServer;
  config: string;
  env: Record<string, string>;
}

async function demoOnJobs({ e, api, config, env }: Ctx, local: Shown): Promise<void> {
  const args = ["run", DEMO, "--stack", "k8s", "--param", "epochs=50", ...GRANTS];
  const r = await cli(config, args, env);
  const run = await shownRun(config, "k8s", r, env);
  assert.equal(r.code, 0, r.stdout + r.stderr + run.steps.map((s) => s.error).join("\n"));
  assert.equal(run.run.status, "completed", run.run.error ?? "");
  assert.equal(run.steps.length, local.steps.length);
  for (const s of run.steps) {
    assert.equal(s.status, "completed", `${s.step}: ${s.error}`);
    assert.match(s.worker ?? "", /^kubernetes:flowyml-/, `${s.step} ran in a Job`);
  }
  assert.deepEqual(outputs(run), outputs(local), "same artifacts (hashes) as the local run");
  assert.equal(api.jobs.length, run.steps.length, "one Job per step attempt");
  for (const job of api.jobs) {
    const c = job.spec.template.spec.containers[0];
    const secret = c.env.find((x: { name: string }) => x.name === "TEST_S3_SECRET");
    assert.deepEqual(secret.valueFrom, {
      secretKeyRef: { name: "s3-credentials", key: "secret-key" },
    });
    assert.ok(!JSON.stringify(job).includes(e.s3.secretKey), "no secret in a manifest");
  }
  assert.ok(
    api.requests.some((q) => q.startsWith("POST /api/v1/namespaces/flowyml/configmaps")),
  );
  assert.ok(api.requests.some((q) => /\/pods\/[^/]+\/log\?.*follow=true/.test(q)));
  assert.ok(
    api.requests.some((q) => q.startsWith("DELETE /api/v1/namespaces/flowyml/configmaps/")),
  );
  // Pod log lines streamed live reach the run's recorded step log, each once.
  const stack = await k8sStack(config, env);
  try {
    const meta = stack.metadataStore;
    assert.ok(keepsStepLogs(meta));
    const lines = (await meta.listStepLogs(run.run.runId, "evaluate")).map((l) => l.line);
    assert.equal(lines.filter((l) => /test accuracy/.test(l)).length, 3, lines.join("\n"));
  } finally {
    await stack.close();
  }
}

/** The `k8s` stack of the test config, in this process. */
async function k8sStack(config: string, env: Record<string, string>): Promise<Stack> {
  for (const [k, v] of Object.entries(env)) Deno.env.set(k, v);
  return await buildStack(parseConfig(await Deno.readTextFile(config)), "k8s");
}

async function failingStep({ config, env }: Ctx): Promise<void> {
  const fixture = "tests/containers/fixtures/failing_pipeline.ts";
  const r = await cli(config, ["run", fixture, "--stack", "k8s", ...GRANTS], env);
  assert.notEqual(r.code, 0);
  const run = await shownRun(config, "k8s", r, env);
  const boom = run.steps.find((s) => s.step === "boom")!;
  assert.equal(boom.status, "failed");
  assert.match(boom.error!, /deliberate failure inside the container/);
  assert.match(boom.error!, /about to fail with n=21/, "the step's log line");
  assert.match(boom.error!, /stderr line from inside the container/, "the pod's stderr");
  assert.match(boom.error!, /--- pod flowyml-boom-\S+ of Job flowyml-boom-/);
  const text = await cli(config, ["runs", "show", run.run.runId, "--stack", "k8s"], env);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /deliberate failure inside the container/);
}

async function missingImage({ api, config, env }: Ctx): Promise<void> {
  const before = api.jobs.length;
  const r = await cli(config, ["run", DEMO, "--stack", "k8s_missing", ...GRANTS], env);
  assert.notEqual(r.code, 0);
  const run = await shownRun(config, "k8s_missing", r, env);
  const failed = run.steps.filter((s) => s.status === "failed");
  assert.ok(failed.length >= 1, JSON.stringify(run.steps));
  for (const s of failed) {
    assert.match(
      s.error!,
      /the image \S+\/flowyml\/does-not-exist:nope cannot be pulled \((ErrImagePull|ImagePullBackOff)\)/,
    );
  }
  const created = api.jobs.slice(before).map((j) => j.metadata.name as string);
  for (const name of created) {
    assert.ok(
      api.requests.some((q) =>
        q.startsWith(`DELETE /apis/batch/v1/namespaces/flowyml/jobs/${name}`)
      ),
      `Job ${name} was deleted`,
    );
  }
}

/** Resolves with `f()` once it is truthy (polled), or fails after `ms`. */
async function until<T>(f: () => T | undefined, what: string, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** In process: cancelRun while training pods run ends the run `cancelled` and deletes the Jobs. */
async function cancelRun({ api, config, env }: Ctx): Promise<void> {
  const stack = await k8sStack(config, env);
  try {
    const o = stack.orchestrator as KubernetesOrchestrator;
    const before = api.jobs.length;
    const lines: string[] = [];
    const runId = await o.runPipeline(demo, {
      stack,
      params: { epochs: 100_000_000 }, // trains for hours unless cancelled
      onEvent: (e) => e.type === "step_log" && lines.push(e.message),
    });
    const running = (name: string) =>
      [...api.pods.values()].some((p) =>
        p.pod.metadata.labels["flowyml.io/job"] === name && p.pod.status.phase === "Running"
      );
    await until(
      () =>
        api.jobs.slice(before).find((j) =>
          /train/.test(j.metadata.name) && running(j.metadata.name)
        ),
      "a training pod to run",
    );
    await o.cancelRun(runId);
    const res = await o.waitForRun(runId);
    assert.equal(res.status, "cancelled");
    assert.match(
      res.error!.message,
      /run cancelled \(cancelRun\(\) was called\) while steps? .*"train_lr_/,
    );
    assert.equal((await stack.metadataStore.getRun(runId))!.status, "cancelled");
    const recs = await stack.metadataStore.listStepRuns(runId);
    const trains = recs.filter((r) => r.step.startsWith("train"));
    assert.ok(
      trains.length > 0 && trains.every((r) => r.status === "cancelled"),
      JSON.stringify(recs),
    );
    for (const job of api.jobs.slice(before).filter((j) => /train/.test(j.metadata.name))) {
      const name = job.metadata.name as string;
      await until(
        () =>
          api.requests.find((q) =>
            q.startsWith(`DELETE /apis/batch/v1/namespaces/flowyml/jobs/${name}`)
          ),
        `Job ${name} to be deleted`,
        10_000,
      );
      await until(() => !running(name) || undefined, `the pod of ${name} to be gone`, 10_000);
    }
  } finally {
    await stack.close();
  }
}

Deno.test({
  name: "kubernetes orchestrator: the demo as one Job per step, pods as podman containers",
  ignore: !ok,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const e: ContainerEnv = await setUpContainers();
    const api = await startApiServer({
      namespaces: ["flowyml"],
      secrets: { "flowyml/s3-credentials": { "secret-key": e.s3.secretKey } },
    });
    try {
      const env = { TEST_S3_SECRET: e.s3.secretKey };
      const ctx: Ctx = { e, api, config: await writeConfig(e, api), env };
      let local!: Shown;
      await t.step("reference run on the local orchestrator", async () => {
        const args = ["run", DEMO, "--stack", "ref", "--param", "epochs=50", ...GRANTS];
        const r = await cli(ctx.config, args, ctx.env);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        local = await shownRun(ctx.config, "ref", r, ctx.env);
        assert.equal(local.run.status, "completed");
      });
      await t.step(
        "every step as its own Job, same outputs as local",
        () => demoOnJobs(ctx, local),
      );
      await t.step("a failing step's pod log reaches runs show", () => failingStep(ctx));
      await t.step(
        "a nonexistent image: ImagePullBackOff, a clear error, the Job deleted",
        () => missingImage(ctx),
      );
      await t.step(
        "cancelRun: the run ends cancelled, its running Jobs and pods are deleted",
        () => cancelRun(ctx),
      );
      assert.deepEqual(api.violations, [], "every request matched the published API");
    } finally {
      await api.stop();
      await e.stop();
    }
  },
});
