/**
 * The seed's examples as tests: `MinIOArtifactStore` and `AirflowOrchestrator`
 * (tests/fixtures/seed_components.ts, translated line by line), registered
 * with the decorator, used from a `flowyml.yaml` in a temp project, and run.
 * The store talks to a real S3-compatible server (tests/services/s3.ts).
 * Airflow never runs: the orchestrator writes the DAG and runs it with the
 * local engine (see the fixture's module doc).
 */
import assert from "node:assert/strict";
import {
  buildStack,
  ComponentRegistry,
  getComponentRegistry,
  loadConfig,
  Pipeline,
  step,
} from "../../mod.ts";
import { AirflowOrchestrator, MinIOArtifactStore } from "../fixtures/seed_components.ts";
import { requireService, tempDir } from "../_helpers.ts";
import { s3Keys, type S3Server, startS3, SWIFT_HOW, swiftAvailable } from "../services/s3.ts";
import { flowyml } from "./_cli.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const run = requireService("OpenStack Swift (s3api)", swiftAvailable(), SWIFT_HOW);

/** The seed's `flowyml.yaml` ("Using Custom Components"), with the store's registered name. */
function seedYaml(s3: S3Server, dags: string): string {
  return `# flowyml.yaml
default_stack: custom_stack
stacks:
  custom_stack:
    type: local
    orchestrator:
      type: airflow  # Your custom orchestrator
      dag_folder: ${dags}

    artifact_store:
      type: seed_minio  # Your custom artifact store
      endpoint: ${s3.host}:${s3.port}
      bucket: ml-artifacts
      access_key: \${MINIO_ACCESS_KEY}
      secret_key: \${MINIO_SECRET_KEY}

resources:
  default:
    cpu: "2"
    memory: "8Gi"
`;
}

const PIPELINE = `
import { Pipeline, step } from "flowyml";
const load = step({ name: "load", outputs: ["rows"] }, () => [5, 3, 8]);
const train = step({ name: "train", inputs: ["rows"], outputs: ["model"] },
  ({ rows }) => ({ weights: rows.map((r) => r / 2), trained: new Date(0) }));
export default new Pipeline("seed_demo").add(load).add(train);
`;

Deno.test("seed components: registered by the decorator with the seed's methods only", async () => {
  const reg = getComponentRegistry();
  assert.equal(await reg.getArtifactStore("seed_minio"), MinIOArtifactStore);
  assert.equal(await reg.getOrchestrator("airflow"), AirflowOrchestrator);
  // Nothing beyond the seed's methods is implemented by the classes themselves.
  assert.deepEqual(
    Object.getOwnPropertyNames(MinIOArtifactStore.prototype).sort(),
    ["client", "constructor", "exists", "load", "save", "toDict", "validate"],
  );
  assert.deepEqual(
    Object.getOwnPropertyNames(AirflowOrchestrator.prototype).sort(),
    ["constructor", "getRunStatus", "runPipeline", "toDict", "validate"],
  );
  // The defaults fill in the rest of the contract.
  const store = new MinIOArtifactStore();
  assert.equal(store.uriFor("objects/ab/cd"), "minio://objects/ab/cd");
  await assert.rejects(store.list(), /list\(\) is not supported by minio "minio"/);
  // The store's known options come from its constructor: a typo is named, with the options.
  const warnings: string[] = [];
  const reg2 = new ComponentRegistry();
  reg2.onWarning((m) => warnings.push(m));
  reg2.register(MinIOArtifactStore, "seed_minio");
  await reg2.create("artifact_store", "seed_minio", { bukcet: "x", access_key: "k" });
  assert.match(
    warnings.join("\n"),
    /unknown option "bukcet" for artifact_store "seed_minio".*known options: name, endpoint, bucket, access_key, secret_key, secure/s,
  );
});

Deno.test({
  name: "seed components: the seed's flowyml.yaml on a real S3 server, run end to end twice",
  ignore: !run,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const s3 = await startS3();
  const t = await tempDir("flowyml-seed-");
  const warnings: string[] = [];
  getComponentRegistry().onWarning((m) => warnings.push(m));
  try {
    const dags = `${t.path}/airflow/dags`;
    await Deno.writeTextFile(`${t.path}/flowyml.yaml`, seedYaml(s3, dags));
    const env: Record<string, string> = {
      MINIO_ACCESS_KEY: s3.accessKey,
      MINIO_SECRET_KEY: s3.secretKey,
    };
    const config = await loadConfig(`${t.path}/flowyml.yaml`, { env: (n) => env[n] });
    assert.equal(config.resources.default.memory, "8Gi");
    const stack = await buildStack(config, "custom_stack");
    try {
      assert.ok(stack.artifactStore instanceof MinIOArtifactStore);
      assert.ok(stack.orchestrator instanceof AirflowOrchestrator);
      assert.equal(await stack.validate(), true); // creates the bucket and the DAG folder
      assert.deepEqual(stack.toDict().artifact_store, {
        type: "minio",
        endpoint: `${s3.host}:${s3.port}`,
        bucket: "ml-artifacts",
        secure: false,
      });
      assert.deepEqual(warnings, [], "every key of the seed's yaml is a known option");

      const load = step({ name: "load", outputs: ["rows"] }, () => [5, 3, 8]);
      const train = step(
        { name: "train", inputs: ["rows"], outputs: ["model"] },
        ({ rows }: { rows: number[] }) => ({ weights: rows.map((r) => r / 2) }),
      );
      const pipeline = new Pipeline("seed_demo").add(load).add(train);
      const first = await pipeline.run({ stack });
      assert.equal(first.status, "completed", first.error?.message ?? "");
      assert.deepEqual(first.outputs.model, { weights: [2.5, 1.5, 4] });
      assert.equal(first.steps.train.status, "completed");

      // The DAG the seed builds: one task per step, chained in order.
      const dag = JSON.parse(await Deno.readTextFile(`${dags}/seed_demo.json`));
      assert.equal(dag.dag_id, "seed_demo");
      assert.deepEqual(dag.tasks.load.downstream, ["train"]);
      // The status in Airflow's words, as the seed's get_run_status returns it.
      assert.equal(await stack.orchestrator.getRunStatus(first.runId), "success");
      assert.equal(await stack.orchestrator.getRunStatus("nope"), "UNKNOWN");

      // Artifacts went through save(): content-addressed objects in the bucket.
      const keys = await s3Keys(s3, "ml-artifacts");
      assert.ok(keys.some((k) => /^objects\/[0-9a-f]{2}\/[0-9a-f]{64}$/.test(k)), keys.join(","));
      assert.match(first.steps.train.outputs.model.uri, /^seed_minio:\/\/objects\//);

      // A second run reuses both steps: exists() + load() verify the stored objects.
      const second = await pipeline.run({ stack });
      assert.equal(second.status, "completed", second.error?.message ?? "");
      assert.equal(second.steps.train.cached, true);
      assert.deepEqual(second.outputs.model, { weights: [2.5, 1.5, 4] });
    } finally {
      await stack.close();
    }
  } finally {
    getComponentRegistry().onWarning((m) => console.warn(m));
    await t.cleanup();
    await s3.stop();
  }
});

Deno.test({
  name: "seed components (CLI): component load, then flowyml run from a subfolder of the project",
  ignore: !run,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const s3 = await startS3();
  const t = await tempDir("flowyml-seed-cli-");
  try {
    const root = await Deno.realPath(t.path);
    const dags = `${root}/airflow/dags`;
    await Deno.mkdir(`${root}/src`);
    await Deno.writeTextFile(`${root}/flowyml.yaml`, seedYaml(s3, dags));
    await Deno.writeTextFile(`${root}/src/pipeline.ts`, PIPELINE);
    const keys = { MINIO_ACCESS_KEY: s3.accessKey, MINIO_SECRET_KEY: s3.secretKey };
    const cli = (cwd: string, args: string[]) => flowyml(cwd, args, keys);
    const load = await cli(root, ["component", "load", `${ROOT}tests/fixtures/seed_components.ts`]);
    assert.equal(load.code, 0, load.stderr);
    assert.match(load.stdout, /loaded artifact_store "seed_minio"/);
    assert.match(load.stdout, /loaded orchestrator "airflow"/);
    // validate() creates the bucket and the DAG folder, as the seed's validate does.
    // The seed's components declare no permissions(): validate (in a child holding a run's
    // permissions) and run both grant what they need.
    const grants = [
      "--grant",
      `net=${s3.host}:${s3.port}`,
      "--grant",
      `write=${dags}`,
      "--grant",
      `read=${dags}`,
      "--grant",
      "env=READABLE_STREAM",
    ];
    const valid = await cli(`${root}/src`, ["stack", "validate", "custom_stack", ...grants]);
    assert.equal(valid.code, 0, valid.stderr);
    assert.match(valid.stdout, /stack "custom_stack" is valid/);
    const r = await cli(`${root}/src`, ["run", "pipeline.ts", "--quiet", ...grants]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /status completed/);
    assert.ok((await Deno.stat(`${dags}/seed_demo.json`)).isFile);
    assert.ok((await Deno.stat(`${root}/.flowyml/metadata.db`)).isFile, "the project's database");
    assert.equal(await Deno.stat(`${root}/src/.flowyml`).then(() => true, () => false), false);
  } finally {
    await t.cleanup();
    await s3.stop();
  }
});

const PLAIN_MODULE = `
// A component package with no flowyml import at all: plain objects.
import v8 from "node:v8";

export const components = [{
  kind: "artifact_store",
  type: "plain_files",
  version: "0.2.0",
  create({ name, folder = ".flowyml/plain" }) {
    return {
      name,
      async save(artifact, path) {
        const file = folder + "/" + path;
        await Deno.mkdir(file.slice(0, file.lastIndexOf("/")), { recursive: true });
        await Deno.writeFile(file + ".tmp", v8.serialize(artifact));
        await Deno.rename(file + ".tmp", file);
        return "file://" + file;
      },
      async load(path) {
        return v8.deserialize(await Deno.readFile(folder + "/" + path));
      },
      async exists(path) {
        return await Deno.stat(folder + "/" + path).then(() => true, () => false);
      },
      toDict: () => ({ type: "plain_files", folder }),
      permissions: () => ({ read: [folder], write: [folder] }),
    };
  },
}];
`;

Deno.test("plain-object components (CLI): component load, list, and a run in the least-privilege child", async () => {
  const t = await tempDir("flowyml-plain-");
  try {
    const root = await Deno.realPath(t.path);
    await Deno.writeTextFile(`${root}/plain.js`, PLAIN_MODULE);
    await Deno.writeTextFile(`${root}/pipeline.ts`, PIPELINE);
    await Deno.writeTextFile(
      `${root}/flowyml.yaml`,
      `default_stack: plain\nstacks:\n  plain:\n    artifact_store: { type: plain_files, folder: data }\n`,
    );
    const cli = (args: string[]) => flowyml(root, args);
    const load = await cli(["component", "load", "./plain.js"]);
    assert.equal(load.code, 0, load.stderr);
    assert.match(load.stdout, /loaded artifact_store "plain_files" 0\.2\.0/);
    const list = await cli(["component", "list"]);
    assert.match(list.stdout, /artifact_store\s+plain_files\s+file\s+0\.2\.0/);
    const r = await cli(["run", "pipeline.ts", "--quiet"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /status completed/);
    assert.equal(r.stderr.includes("unknown option"), false, "folder is read by create()");
    const objects = await Array.fromAsync(Deno.readDir(`${root}/data/objects`));
    assert.ok(objects.length > 0, "artifacts went through the object's save()");
  } finally {
    await t.cleanup();
  }
});
