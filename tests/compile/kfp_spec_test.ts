// deno-lint-ignore-file no-explicit-any
/**
 * `flowyml compile --target vertex|kfp` writes a KFP v2 PipelineSpec that parses strictly with
 * protobuf's own JSON parser against kfp's vendored `pipeline_spec.proto` (deploymentSpec parsed
 * again as PipelineDeploymentConfig). The real kfp compiler's goldens pass the same checker and
 * broken variants fail it, so the checker is neither too lax nor too strict.
 */
import assert from "node:assert/strict";
import { buildChecker, checkerAvailable, checkSpecs, KFP_VENDOR } from "./_checker.ts";
import { compilePipelineSpec, kfpName, resourceSpec } from "../../plugins/vertex/compile.ts";
import { buildGraph } from "../../kernel/graph.ts";
import demo from "../../examples/demo/pipeline.ts";
import { Pipeline, step } from "../../mod.ts";
import { tempDir } from "../_helpers.ts";

const ok = checkerAvailable();
const ROOT = new URL("../../", import.meta.url).pathname;

const OPTS = {
  image: "us-docker.pkg.dev/proj/repo/flowers:v1@sha256:" + "a".repeat(64),
  stack: "vertex",
  pipelinePath: "/app/examples/demo/pipeline.ts",
  params: { epochs: 300, lr: 0.1, name: "x", flags: [1, 2], cfg: { a: 1 }, fast: true },
};

/** A pipeline with resources, a GPU and a fan-out/fan-in. */
const gpu = new Pipeline("GPU Fan", { resources: { cpu: "2", memory: "8Gi" } })
  .add(step({ name: "src", outputs: ["a"] }, () => 1))
  .add(
    step(
      { name: "left", inputs: ["a"], outputs: ["b"], resources: { gpu: "nvidia-tesla-t4:2" } },
      () => 1,
    ),
  )
  .add(step({ name: "right", inputs: ["a"], outputs: ["c"] }, () => 1))
  .add(step({ name: "join", inputs: ["b", "c"], outputs: ["d"] }, () => 1));

Deno.test({
  name: "compile: the demo's PipelineSpec follows the real graph",
  fn: () => {
    const spec = compilePipelineSpec(demo, OPTS) as any;
    assert.equal(spec.schemaVersion, "2.1.0");
    assert.equal(spec.pipelineInfo.name, "flowers");
    const tasks = spec.root.dag.tasks as Record<string, any>;
    const graph = buildGraph(demo.name, demo.steps);
    assert.equal(Object.keys(tasks).length, demo.steps.length);
    for (const s of demo.steps) {
      const t = tasks[kfpName(s.name)];
      assert.ok(t, s.name);
      assert.deepEqual(t.dependentTasks ?? [], graph.upstream.get(s.name)!.map(kfpName).sort());
      assert.deepEqual(t.cachingOptions, { enableCache: false }, "flowyml caches itself");
      const exec = spec.deploymentSpec.executors[`exec-${kfpName(s.name)}`].container;
      assert.equal(exec.image, OPTS.image);
      assert.deepEqual(exec.command, ["deno", "run", "-A", "/app/cli/main.ts", "step", "run"]);
      assert.deepEqual(exec.args.slice(0, 6), [
        "--run",
        "{{$.pipeline_job_name}}",
        "--step",
        s.name,
        "--stack",
        "vertex",
      ]);
      assert.ok(exec.args.includes("epochs={{$.inputs.parameters['epochs']}}"));
      assert.equal(exec.args.at(-1), OPTS.pipelinePath);
    }
    assert.deepEqual(tasks["evaluate"].dependentTasks, [
      "standardize",
      "train-lr-0-01",
      "train-lr-0-1",
      "train-lr-1",
    ]);
    const p = spec.root.inputDefinitions.parameters;
    assert.deepEqual(p.epochs, { parameterType: "NUMBER_INTEGER", defaultValue: 300 });
    assert.equal(p.lr.parameterType, "NUMBER_DOUBLE");
    assert.equal(p.name.parameterType, "STRING");
    assert.equal(p.flags.parameterType, "LIST");
    assert.equal(p.cfg.parameterType, "STRUCT");
    assert.equal(p.fast.parameterType, "BOOLEAN");
  },
});

Deno.test({
  name: "compile: ResourceConfig becomes cpu, memory and accelerator limits",
  fn: () => {
    const spec = compilePipelineSpec(gpu, {
      ...OPTS,
      params: {},
      resources: gpu.options.resources,
    }) as any;
    const ex = spec.deploymentSpec.executors;
    assert.deepEqual(ex["exec-src"].container.resources, {
      resourceCpuLimit: "2",
      resourceMemoryLimit: "8Gi",
    });
    assert.deepEqual(ex["exec-left"].container.resources, {
      accelerator: { resourceType: "NVIDIA_TESLA_T4", resourceCount: "2" },
    });
    assert.deepEqual(spec.root.dag.tasks.join.dependentTasks, ["left", "right"]);
    assert.equal(spec.pipelineInfo.name, "gpu-fan");
    assert.deepEqual(resourceSpec({ gpu: 1 }, "kfp"), {
      accelerator: { resourceType: "nvidia.com/gpu", resourceCount: "1" },
    });
  },
});

Deno.test({
  name:
    "compile: specs parse strictly with protobuf against kfp's pipeline_spec.proto; goldens pass, broken variants fail",
  ignore: !ok,
  fn: async (t) => {
    const pb = await buildChecker();
    const tmp = await tempDir("flowyml-kfp-");
    try {
      const goldens = [...Deno.readDirSync(`${KFP_VENDOR}golden`)].map((e) =>
        `${KFP_VENDOR}golden/${e.name}`
      ).sort();
      await t.step("the real kfp compiler's goldens pass", async () => {
        assert.ok(goldens.length >= 5);
        for (const r of await checkSpecs(pb, goldens)) assert.ok(r.ok, `${r.file}: ${r.error}`);
      });
      const write = async (name: string, spec: unknown) => {
        await Deno.writeTextFile(`${tmp.path}/${name}`, JSON.stringify(spec));
        return `${tmp.path}/${name}`;
      };
      await t.step(
        "the compiled demo, GPU fan-out and no-param specs pass (vertex and kfp)",
        async () => {
          const files = [
            await write(
              "demo_vertex.json",
              compilePipelineSpec(demo, { ...OPTS, pipelineRoot: "gs://b/root" }),
            ),
            await write("demo_kfp.json", compilePipelineSpec(demo, { ...OPTS, target: "kfp" })),
            await write(
              "gpu.json",
              compilePipelineSpec(gpu, { ...OPTS, params: {}, resources: gpu.options.resources }),
            ),
            await write(
              "gpu_kfp.json",
              compilePipelineSpec(gpu, { ...OPTS, target: "kfp", resources: { gpu: 1 } }),
            ),
          ];
          for (const r of await checkSpecs(pb, files)) assert.ok(r.ok, `${r.file}: ${r.error}`);
        },
      );
      await t.step(
        "broken variants fail: unknown field, bad enum, missing task, bad executor field",
        async () => {
          const base = () => compilePipelineSpec(demo, OPTS) as any;
          const unknown = base();
          unknown.root.dag.tasks.load.retries = 3;
          const badEnum = base();
          badEnum.root.inputDefinitions.parameters.epochs.parameterType = "NUMBER_FLOAT";
          const missing = base();
          missing.root.dag.tasks.split.dependentTasks = ["load", "no-such-task"];
          const badExec = base();
          badExec.deploymentSpec.executors["exec-load"].container.cpuLimit = "2";
          const files = [
            await write("unknown.json", unknown),
            await write("bad_enum.json", badEnum),
            await write("missing.json", missing),
            await write("bad_exec.json", badExec),
          ];
          const results = await checkSpecs(pb, files);
          for (const r of results) assert.equal(r.ok, false, `${r.file} must fail`);
          assert.match(results[0].error!, /retries/);
          assert.match(results[1].error!, /NUMBER_FLOAT/);
          assert.match(results[2].error!, /no-such-task/);
          assert.match(results[3].error!, /cpuLimit/);
        },
      );
      await t.step("the CLI writes the same spec (flowyml compile --target kfp)", async () => {
        const out = `${tmp.path}/cli.json`;
        const r = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            `${ROOT}cli/main.ts`,
            "compile",
            "--target",
            "kfp",
            "--image",
            OPTS.image,
            "--param",
            "epochs=300",
            "-o",
            out,
            "examples/demo/pipeline.ts",
          ],
          cwd: ROOT,
          env: { FLOWYML_CONFIG: `${tmp.path}/none.yaml` },
          stderr: "piped",
        }).output();
        assert.ok(r.success, new TextDecoder().decode(r.stderr));
        const spec = JSON.parse(await Deno.readTextFile(out));
        assert.equal(spec.root.dag.tasks.evaluate.dependentTasks.length, 4);
        for (const x of await checkSpecs(pb, [out])) assert.ok(x.ok, x.error ?? "");
      });
    } finally {
      await tmp.cleanup();
      await Deno.remove(pb, { recursive: true });
    }
  },
});
