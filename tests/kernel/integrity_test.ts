/**
 * Issue 10, case 1: a stored output overwritten with zeros of the same size
 * is never served, by the cache or by a read; `flowyml artifacts verify`
 * lists it; after it is repaired nothing wrong was cached. Also on a real S3
 * server (Swift s3api), corrupting the object through the minio client.
 */
import assert from "node:assert/strict";
import { requireService, tempDir } from "../_helpers.ts";
import { rawS3Client, startS3, SWIFT_HOW, swiftAvailable } from "../services/s3.ts";
import { MinIOArtifactStore } from "../../plugins/s3/store.ts";
import {
  ArtifactIntegrityError,
  type ArtifactRef,
  loadStream,
  loadValue,
  LocalExecutor,
  LocalOrchestrator,
  Pipeline,
  putStream,
  runStepTask,
  SQLiteMetadataStore,
  Stack,
  step,
} from "../../mod.ts";
import { verifyArtifacts } from "../../kernel/verify.ts";
import { sha256Hex } from "../../kernel/hash.ts";
import { flowyml } from "./_cli.ts";

// Features are 100k floats (800 KB: above the size where existing objects are not rewritten).
const PIPELINE = `
import { Pipeline, step } from "flowyml";
const features = step({ name: "features", outputs: ["features"] },
  () => Float64Array.from({ length: 100_000 }, (_, i) => 1 + (i % 10)));
const train = step({ name: "train", inputs: ["features"], outputs: ["model"] },
  ({ features }, ctx) => {
    const epochs = Number(ctx.params.epochs ?? 1);
    let s = 0;
    for (const v of features) s += v;
    return { weight: (s / features.length) * epochs };
  });
const evaluate = step({ name: "evaluate", inputs: ["features", "model"], outputs: ["report"], cache: false },
  ({ features, model }, ctx) => {
    let s = 0;
    for (const v of features) s += v;
    ctx.log(\`mean=\${s / features.length} weight=\${model.weight}\`);
    return { mean: s / features.length, weight: model.weight };
  });
export default new Pipeline("integrity").add(features).add(train).add(evaluate);
`;

function objectFile(project: string, uri: string): string {
  const path = uri.replace(/^file:\/\//, "");
  assert.ok(path.startsWith(project), `${uri} is in the project's store`);
  return path;
}

Deno.test("integrity (CLI): an output overwritten with zeros is never served or cached", async () => {
  const t = await tempDir();
  try {
    await Deno.writeTextFile(`${t.path}/pipeline.ts`, PIPELINE);
    const r1 = await flowyml(t.path, ["run", "pipeline.ts"]);
    assert.equal(r1.code, 0, r1.stderr + r1.stdout);
    assert.match(r1.stdout, /mean=5\.5 weight=5\.5/);
    const runId = /run\s+(integrity-\S+)/.exec(r1.stdout)![1];
    const show = JSON.parse((await flowyml(t.path, ["runs", "show", runId, "--json"])).stdout);
    const ref = show.steps.find((s: { step: string }) => s.step === "features").outputs
      .features as ArtifactRef;
    const file = objectFile(t.path, ref.uri);
    const good = await Deno.readFile(file);

    // The user's corruption: zeros, same size.
    await Deno.writeFile(file, new Uint8Array(good.byteLength));

    const v1 = await flowyml(t.path, ["artifacts", "verify"]);
    assert.equal(v1.code, 1, v1.stdout + v1.stderr);
    assert.match(v1.stdout, /corrupt/);
    assert.ok(v1.stdout.includes(ref.uri), v1.stdout);
    assert.ok(v1.stdout.includes(ref.hash), "the expected hash is listed");
    assert.ok(v1.stdout.includes(sha256Hex(new Uint8Array(good.byteLength))), "and the found one");
    assert.match(v1.stdout, /features\.features/, "names the step and output using it");
    const vRun = await flowyml(t.path, ["artifacts", "verify", "--run", runId]);
    assert.equal(vRun.code, 1);

    // The next run does not serve the zeros: "features" re-runs, the values are right.
    const r2 = await flowyml(t.path, ["run", "pipeline.ts"]);
    assert.equal(r2.code, 0, r2.stderr + r2.stdout);
    assert.match(r2.stdout, /mean=5\.5 weight=5\.5/);
    assert.doesNotMatch(r2.stdout, /mean=0/);
    assert.match(r2.stderr, /cached output "features" of step "features" .* is corrupt/);
    assert.match(r2.stdout, /✓ features completed/);
    // The re-run rewrote the object with the right bytes.
    assert.deepEqual(await Deno.readFile(file), good);
    const v2 = await flowyml(t.path, ["artifacts", "verify"]);
    assert.equal(v2.code, 0, v2.stdout);
    assert.match(v2.stdout, /all match their hashes/);

    // Nothing wrong was cached: a run that re-trains from the stored features gets them right.
    const r3 = await flowyml(t.path, ["run", "pipeline.ts", "--param", "epochs=2"]);
    assert.equal(r3.code, 0, r3.stderr);
    assert.match(r3.stdout, /mean=5\.5 weight=11/);
  } finally {
    await t.cleanup();
  }
});

Deno.test("integrity: every read verifies; a worker's input read fails naming the artifact", async () => {
  const t = await tempDir();
  const stack = new Stack("s", {
    orchestrator: new LocalOrchestrator(),
    executor: new LocalExecutor(),
    artifactStore: new (await import("../../plugins/local/artifact_store.ts")).LocalArtifactStore({
      path: `${t.path}/a`,
    }),
    metadataStore: new SQLiteMetadataStore({ path: `${t.path}/m.db`, inlineMaxBytes: 0 }),
  });
  try {
    const p = new Pipeline("small", { stack })
      .add(step({ name: "make", outputs: ["rows"] }, () => ({ rows: [1, 2, 3] }).rows))
      .add(step({ name: "sum", inputs: ["rows"], outputs: ["total"] }, ({ rows }) => rows[0]));
    const r = await p.run();
    const ref = r.steps.make.outputs.rows;
    const file = ref.uri.replace("file://", "");
    const size = (await Deno.stat(file)).size;
    await Deno.writeFile(file, new Uint8Array(size));
    await assert.rejects(() => loadValue(stack.artifactStore, ref), (e: Error) => {
      assert.ok(e instanceof ArtifactIntegrityError);
      assert.ok(e.message.includes(ref.uri) && e.message.includes(ref.hash));
      assert.match(e.message, /artifacts verify/);
      return true;
    });
    // The path a queue worker takes: load the inputs by reference, then run the step.
    const sum = p.steps.find((s) => s.name === "sum")!;
    await assert.rejects(
      () =>
        runStepTask(sum, {
          runId: "r",
          pipeline: "small",
          step: "sum",
          attempt: 1,
          params: {},
          inputs: { rows: ref },
        }, { store: stack.artifactStore, executor: stack.executor, signal: AbortSignal.any([]) }),
      /artifact "rows" \(input of step "sum"\) at file:\/\/.* is corrupt: its bytes hash to sha256 [0-9a-f]{64}, but the metadata recorded [0-9a-f]{64}/,
    );
    // A streamed read errors at the end instead of closing like a whole artifact.
    const chunks = await loadStream(stack.artifactStore, ref, { label: '"rows"' });
    await assert.rejects(
      () => Array.fromAsync(chunks),
      (e: Error) => e instanceof ArtifactIntegrityError && e.message.includes('artifact "rows" at'),
    );
    // Storing the same content again replaces the corrupt copy instead of trusting it.
    const again1 = await putStream(
      stack.artifactStore,
      ReadableStream.from([new TextEncoder().encode("[1,2,3]")]),
    );
    assert.equal(again1.hash, ref.hash);
    assert.equal(await Deno.readTextFile(file), "[1,2,3]");
    assert.deepEqual(await loadValue(stack.artifactStore, ref), [1, 2, 3]);
    // A missing object is a miss too, and verify names it.
    await Deno.remove(file);
    const bad = (await verifyArtifacts(stack)).filter((o) => o.check.status !== "ok");
    assert.deepEqual(bad.map((o) => [o.path, o.check.status]), [[ref.path, "missing"]]);
    const again = await p.run();
    assert.equal(again.steps.make.cached, false, "a missing output is a cache miss");
    assert.equal(again.outputs.total, 1);
  } finally {
    await stack.close();
    await t.cleanup();
  }
});

const s3ok = requireService("OpenStack Swift (s3api)", swiftAvailable(), SWIFT_HOW);

Deno.test({
  name: "integrity (S3, Swift s3api): an object corrupted in the bucket is a miss and a read error",
  ignore: !s3ok,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const s3 = await startS3();
  const t = await tempDir();
  const store = new MinIOArtifactStore({
    endpoint: s3.endpoint,
    bucket: "flowyml-integrity",
    prefix: "p",
    access_key: s3.accessKey,
    secret_key: s3.secretKey,
    create_bucket: true,
  });
  const stack = new Stack("s3", {
    orchestrator: new LocalOrchestrator(),
    executor: new LocalExecutor(),
    artifactStore: store,
    metadataStore: new SQLiteMetadataStore({ path: `${t.path}/m.db`, inlineMaxBytes: 0 }),
  });
  try {
    await store.validate();
    let runs = 0;
    const p = new Pipeline("s3integrity", { stack })
      .add(step({ name: "make", outputs: ["m"] }, () => {
        runs++;
        return new Map([["a", new Float64Array([1.5, 2.5])]]);
      }))
      .add(step({ name: "use", inputs: ["m"], outputs: ["x"] }, ({ m }) => m.get("a")[1]));
    const r1 = await p.run();
    assert.equal(r1.outputs.x, 2.5);
    const ref = r1.steps.make.outputs.m;
    assert.match(ref.uri, /^s3:\/\/flowyml-integrity\/p\/objects\//);
    const client = rawS3Client(s3);
    const zeros = new Uint8Array(ref.size);
    await client.putObject("flowyml-integrity", `p/${ref.path}`, Buffer.from(zeros), zeros.length);

    await assert.rejects(() => loadValue(store, ref, { label: '"m"' }), (e: Error) => {
      assert.ok(e instanceof ArtifactIntegrityError, String(e));
      assert.ok(e.message.includes(`artifact "m" at ${ref.uri} is corrupt`), e.message);
      assert.ok(e.message.includes(sha256Hex(zeros)));
      return true;
    });
    const bad = (await verifyArtifacts(stack)).filter((o) => o.check.status !== "ok");
    assert.deepEqual(bad.map((o) => o.uri), [ref.uri]);

    const r2 = await p.run();
    assert.equal(r2.status, "completed");
    assert.equal(r2.steps.make.cached, false, "the corrupt object is a cache miss");
    assert.equal(runs, 2);
    assert.equal(r2.outputs.x, 2.5);
    assert.equal((await verifyArtifacts(stack)).filter((o) => o.check.status !== "ok").length, 0);
    const r3 = await p.run();
    assert.equal(r3.steps.make.cached, true, "repaired: a hit again");
  } finally {
    await stack.close();
    await t.cleanup();
    await s3.stop();
  }
});
