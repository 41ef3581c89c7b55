/**
 * GCSArtifactStore against a real GCS JSON API server (firebase-tools' Node
 * storage emulator, see tests/services/gcs.ts), started once for this file.
 */
import assert from "node:assert/strict";
import { Storage } from "@google-cloud/storage";
import { freePort, requireService, tempDir } from "../_helpers.ts";
import { GCS_HOW, gcsAvailable, startGcs } from "../services/gcs.ts";
import { GCSArtifactStore } from "../../plugins/gcs/store.ts";
import { storeContract } from "./_store_contract.ts";
import { buildStack, parseConfig, Pipeline, step } from "../../mod.ts";

const run = requireService("GCS emulator (firebase-tools)", gcsAvailable(), GCS_HOW);

Deno.test({
  name: "gcs (firebase-tools emulator): GCSArtifactStore for real",
  ignore: !run,
  sanitizeResources: false,
  sanitizeOps: false,
}, async (t) => {
  const gcs = await startGcs();
  const tmp = await tempDir();
  try {
    const store = new GCSArtifactStore({
      bucket: "flowyml-gcs",
      prefix: "team/b",
      api_endpoint: gcs.endpoint,
      project_id: gcs.projectId,
      create_bucket: true,
      resumable_threshold_mb: 4,
      spool_dir: tmp.path,
    });

    await t.step("validate(): missing bucket is named; create_bucket creates it", async () => {
      const strict = new GCSArtifactStore({
        bucket: "flowyml-gcs",
        api_endpoint: gcs.endpoint,
        project_id: gcs.projectId,
      });
      await assert.rejects(
        () => strict.validate(),
        /bucket "flowyml-gcs" does not exist[\s\S]*create_bucket: true/,
      );
      assert.equal(await store.validate(), true);
      assert.equal(await strict.validate(), true);
    });

    await storeContract(t, store, 12 << 20);

    await t.step("objects land under the prefix with the local layout; gs:// URIs", async () => {
      const raw = new Storage({ apiEndpoint: gcs.endpoint, projectId: gcs.projectId });
      const [files] = await raw.bucket("flowyml-gcs").getFiles({ prefix: "team/b/objects/" });
      assert.ok(files.some((f) => /^team\/b\/objects\/[a-f0-9]{2}\/[a-f0-9]{64}$/.test(f.name)));
      assert.equal(store.uriFor("objects/ab/x"), "gs://flowyml-gcs/team/b/objects/ab/x");
      assert.equal(JSON.stringify(store.toDict()).includes("key_file"), false);
    });

    await t.step("an unreachable endpoint is named", async () => {
      const down = new GCSArtifactStore({
        bucket: "x-bucket",
        api_endpoint: `http://127.0.0.1:${freePort()}`,
        retry_base_ms: 5,
      });
      await assert.rejects(() => down.validate(), /cannot reach http:\/\/127\.0\.0\.1:\d+/);
    });

    await t.step("a gcs stack runs a pipeline twice; the second run is cached", async () => {
      const config = parseConfig(
        `stacks:
  gcp:
    artifact_store: { type: gcs, bucket: flowyml-gcs-stack, api_endpoint: "${gcs.endpoint}", project_id: ${gcs.projectId}, create_bucket: true }
    metadata_store: { type: sqlite, path: ${tmp.path}/metadata.db }
`,
      );
      const stack = await buildStack(config, "gcp");
      try {
        await stack.validate();
        const make = step({ name: "make", outputs: ["v"] }, () => new Float64Array([1, 2, 3]));
        const double = step(
          { name: "double", inputs: ["v"], outputs: ["w"] },
          ({ v }) => (v as Float64Array).map((x) => x * 2),
        );
        const p = new Pipeline("gcs_double").add(make).add(double);
        const first = await p.run({ stack });
        assert.equal(first.status, "completed", first.error?.message ?? "");
        assert.deepEqual([...(first.outputs.w as Float64Array)], [2, 4, 6]);
        const second = await p.run({ stack });
        assert.equal(second.steps.double.cached, true);
        assert.match(first.steps.double.outputs.w.uri, /^gs:\/\/flowyml-gcs-stack\/objects\//);
      } finally {
        await stack.close();
      }
    });
  } finally {
    await gcs.stop();
    await tmp.cleanup();
  }
});
