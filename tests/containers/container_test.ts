/**
 * The `container` orchestrator end to end, with real podman containers: the
 * unchanged demo pipeline runs with every step in its own container of the
 * image `flowyml image build` made on a base image made here (`flowyml image
 * base`), both pushed to a real docker-registry; artifacts on a real S3
 * server (Swift), metadata in PostgreSQL. Same outputs as the local
 * orchestrator on the same kind of stack. A failing step's container output
 * reaches `flowyml runs show`.
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
} from "./_setup.ts";

const ok = containersAvailable();

Deno.test({
  name: "container orchestrator: the demo runs step by step in podman, same outputs as local",
  ignore: !ok,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const e: ContainerEnv = await setUpContainers();
    try {
      const orchestrator = {
        type: "container",
        image: e.image,
        config_file: `${e.tmp}/flowyml.yaml`,
        project_root: ROOT,
        pass_env: ["TEST_S3_SECRET"],
      };
      await Deno.writeTextFile(
        `${e.tmp}/flowyml.yaml`,
        stackYaml(e, {
          ref: { bucket: "ref", pg: await e.pg("ref") },
          containers: { orchestrator, bucket: "ctr", pg: await e.pg("ctr") },
        }),
      );
      const config = `${e.tmp}/flowyml.yaml`;
      const env = { TEST_S3_SECRET: e.s3.secretKey };
      const demo = "examples/demo/pipeline.ts";

      let local!: Shown;
      await t.step("reference run on the local orchestrator", async () => {
        const r = await cli(config, [
          "run",
          demo,
          "--stack",
          "ref",
          "--param",
          "epochs=50",
          ...GRANTS,
        ], env);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        local = await shownRun(config, "ref", r, env);
        assert.equal(local.run.status, "completed");
      });

      await t.step("every step in its own podman container", async () => {
        const args = ["run", demo, "--stack", "containers", "--param", "epochs=50", ...GRANTS];
        const r = await cli(config, args, env);
        const ctr = await shownRun(config, "containers", r, env);
        assert.equal(r.code, 0, r.stdout + r.stderr + ctr.steps.map((s) => s.error).join("\n"));
        assert.equal(ctr.run.status, "completed", ctr.run.error ?? "");
        assert.equal(ctr.steps.length, local.steps.length);
        for (const s of ctr.steps) {
          assert.equal(s.status, "completed", `${s.step}: ${s.error}`);
          assert.match(s.worker ?? "", /^podman:flowyml-/, `${s.step} ran in a container`);
        }
        assert.deepEqual(outputs(ctr), outputs(local), "same artifacts (hashes) as the local run");
      });

      await t.step("a failing step's container output reaches runs show", async () => {
        const fixture = "tests/containers/fixtures/failing_pipeline.ts";
        const r = await cli(config, ["run", fixture, "--stack", "containers", ...GRANTS], env);
        assert.notEqual(r.code, 0);
        const run = await shownRun(config, "containers", r, env);
        const text = await cli(
          config,
          ["runs", "show", run.run.runId, "--stack", "containers"],
          env,
        );
        assert.equal(text.code, 0, text.stderr);
        const boom = run.steps.find((s) => s.step === "boom")!;
        assert.equal(boom.status, "failed");
        assert.match(boom.error!, /deliberate failure inside the container/);
        assert.match(boom.error!, /about to fail with n=21/, "the step's log line");
        assert.match(
          boom.error!,
          /stderr line from inside the container/,
          "the container's stderr",
        );
        assert.match(text.stdout, /deliberate failure inside the container/);
      });
    } finally {
      await e.stop();
    }
  },
});
