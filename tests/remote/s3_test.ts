/**
 * MinIOArtifactStore / S3ArtifactStore against a real object store:
 * OpenStack Swift with s3api (Debian), started once for this file.
 */
import assert from "node:assert/strict";
import { denoBin, freePort, requireService, tempDir } from "../_helpers.ts";
import { rawS3Client, s3Keys, startS3, SWIFT_HOW, swiftAvailable } from "../services/s3.ts";
import { MinIOArtifactStore, S3ArtifactStore } from "../../plugins/s3/store.ts";
import { storeContract } from "./_store_contract.ts";
import { buildStack, getComponentRegistry, parseConfig, Pipeline, step } from "../../mod.ts";
import { importPipeline } from "../../cli/_common.ts";

const run = requireService("OpenStack Swift (s3api)", swiftAvailable(), SWIFT_HOW);

/** A TCP proxy to `port` that resets the first `failFirst` connections (a real network fault). */
function flakyProxy(
  port: number,
  failFirst: number,
): { port: number; close: () => void; seen: () => number } {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let n = 0;
  const conns = new Set<Deno.Conn>();
  (async () => {
    for await (const c of l) {
      if (n++ < failFirst) {
        c.close();
        continue;
      }
      conns.add(c);
      Deno.connect({ hostname: "127.0.0.1", port }).then((up) => {
        conns.add(up);
        Promise.allSettled([c.readable.pipeTo(up.writable), up.readable.pipeTo(c.writable)])
          .finally(() => {
            conns.delete(c);
            conns.delete(up);
          });
      });
    }
  })().catch(() => {});
  return {
    port: (l.addr as Deno.NetAddr).port,
    seen: () => n,
    close: () => {
      l.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    },
  };
}

Deno.test({
  name: "s3 (Swift s3api): MinIOArtifactStore for real",
  ignore: !run,
  sanitizeResources: false,
  sanitizeOps: false,
}, async (t) => {
  const s3 = await startS3();
  const tmp = await tempDir();
  try {
    const store = new MinIOArtifactStore({
      endpoint: s3.endpoint,
      bucket: "flowyml-contract",
      prefix: "team/a",
      access_key: s3.accessKey,
      secret_key: { env: "FLOWYML_TEST_S3_SECRET" },
      create_bucket: true,
      part_size_mb: 5,
    });
    Deno.env.set("FLOWYML_TEST_S3_SECRET", s3.secretKey);

    await t.step("validate() creates the bucket when asked", async () => {
      assert.equal(await store.validate(), true);
      assert.equal(await rawS3Client(s3).bucketExists("flowyml-contract"), true);
    });

    await storeContract(t, store, 12 << 20);

    await t.step("objects land under the prefix, keyed like the local store", async () => {
      const keys = await s3Keys(s3, "flowyml-contract", "team/a/");
      assert.ok(
        keys.some((k) => /^team\/a\/objects\/[a-f0-9]{2}\/[a-f0-9]{64}$/.test(k)),
        keys.join(","),
      );
      assert.ok(keys.includes("team/a/c/big.bin"));
      assert.equal(store.uriFor("objects/ab/x"), "s3://flowyml-contract/team/a/objects/ab/x");
    });

    await t.step(
      "validate() names the problem: missing bucket, bad credentials, unreachable",
      async () => {
        const noBucket = new MinIOArtifactStore({
          endpoint: s3.endpoint,
          bucket: "no-such-bucket",
          access_key: s3.accessKey,
          secret_key: s3.secretKey,
        });
        await assert.rejects(
          () => noBucket.validate(),
          /bucket "no-such-bucket" does not exist[\s\S]*create_bucket: true/,
        );
        const bad = new MinIOArtifactStore({
          endpoint: s3.endpoint,
          bucket: "flowyml-contract",
          access_key: s3.accessKey,
          secret_key: "wrong-secret-123",
        });
        await assert.rejects(() => bad.validate(), (err: Error) => {
          assert.match(err.message, /rejected the credentials/);
          assert.doesNotMatch(err.message, /wrong-secret-123/);
          return true;
        });
        const down = new MinIOArtifactStore({
          endpoint: `http://127.0.0.1:${freePort()}`,
          bucket: "flowyml-contract",
          retry_base_ms: 10,
        });
        await assert.rejects(
          () => down.validate(),
          /cannot reach the endpoint http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/,
        );
        Deno.env.delete("FLOWYML_TEST_S3_UNSET");
        const unset = new MinIOArtifactStore({
          endpoint: s3.endpoint,
          bucket: "flowyml-contract",
          secret_key: { env: "FLOWYML_TEST_S3_UNSET" },
        });
        await assert.rejects(() => unset.validate(), /FLOWYML_TEST_S3_UNSET is not set/);
      },
    );

    await t.step(
      "transient network failures are retried; a lasting one gives a clear final error",
      async () => {
        const flaky = flakyProxy(s3.port, 2);
        try {
          const s = new MinIOArtifactStore({
            endpoint: `http://127.0.0.1:${flaky.port}`,
            bucket: "flowyml-contract",
            access_key: s3.accessKey,
            secret_key: s3.secretKey,
            retry_base_ms: 10,
          });
          await s.writeBytes("retry/x", new TextEncoder().encode("survived"));
          assert.equal(new TextDecoder().decode(await s.readBytes("retry/x")), "survived");
          assert.ok(flaky.seen() >= 3, "the first two connections were reset");
          s.close();
        } finally {
          flaky.close();
        }
        const dead = flakyProxy(s3.port, 1000);
        try {
          const s = new MinIOArtifactStore({
            endpoint: `http://127.0.0.1:${dead.port}`,
            bucket: "flowyml-contract",
            access_key: s3.accessKey,
            secret_key: s3.secretKey,
            retry_base_ms: 5,
            max_retries: 2,
          });
          await assert.rejects(
            () => s.writeBytes("retry/y", new Uint8Array(10)),
            /uploading s3:\/\/flowyml-contract\/retry\/y failed after 3 attempts/,
          );
          s.close();
        } finally {
          dead.close();
        }
      },
    );

    await t.step("toDict and permissions never carry the secret", () => {
      const s = new S3ArtifactStore({
        endpoint: s3.endpoint,
        bucket: "flowyml-contract",
        access_key: s3.accessKey,
        secret_key: s3.secretKey,
      });
      const d = JSON.stringify(s.toDict());
      assert.ok(!d.includes(s3.secretKey) && !d.includes(s3.accessKey), d);
      assert.equal(JSON.parse(d).secure, false);
      assert.deepEqual(store.toDict().secret_key, { env: "FLOWYML_TEST_S3_SECRET" });
      assert.deepEqual(store.permissions().net, [`127.0.0.1:${s3.port}`]);
      assert.ok(store.permissions().env!.includes("FLOWYML_TEST_S3_SECRET"));
    });

    await t.step(
      "a missing --allow-net names the exact flag; the documented flags suffice",
      async () => {
        const script = `${tmp.path}/probe.ts`;
        await Deno.writeTextFile(
          script,
          `import { MinIOArtifactStore } from "${
            new URL("../../plugins/s3/store.ts", import.meta.url).href
          }";
const s = new MinIOArtifactStore({ endpoint: "${s3.endpoint}", bucket: "flowyml-contract", access_key: "${s3.accessKey}", secret_key: { env: "FLOWYML_TEST_S3_SECRET" } });
try { await s.validate(); await s.writeBytes("perm/ok", new Uint8Array([1])); console.log("OK"); }
catch (e) { console.log("ERR " + e.message); }
s.close();`,
        );
        const config = new URL("../../deno.json", import.meta.url).pathname;
        const exec = async (flags: string[]) => {
          const out = await new Deno.Command(denoBin(), {
            args: ["run", "--config", config, ...flags, script],
            env: { FLOWYML_TEST_S3_SECRET: s3.secretKey },
            stdout: "piped",
            stderr: "piped",
          }).output();
          return new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
        };
        const env = "--allow-env=FLOWYML_TEST_S3_SECRET,AWS_SESSION_TOKEN,READABLE_STREAM";
        const denied = await exec([`--allow-net=127.0.0.1:${freePort()}`, env]);
        assert.match(denied, new RegExp(`--allow-net=127\\.0\\.0\\.1:${s3.port}`));
        const ok = await exec([`--allow-net=127.0.0.1:${s3.port}`, env]);
        assert.match(ok, /^OK$/m, ok);
      },
    );

    await t.step(
      "a minio stack from flowyml.yaml runs a pipeline twice; the second run is cached",
      async () => {
        Deno.env.set("FLOWYML_TEST_S3_ACCESS", s3.accessKey);
        const config = parseConfig(
          `stacks:
  minio:
    artifact_store:
      type: minio
      endpoint: ${s3.endpoint}
      bucket: flowyml-stack
      access_key: \${FLOWYML_TEST_S3_ACCESS}
      secret_key: { env: FLOWYML_TEST_S3_SECRET }
      create_bucket: true
    metadata_store: { type: sqlite, path: ${tmp.path}/metadata.db }
`,
        );
        assert.ok(
          getComponentRegistry().entry("artifact_store", "minio")?.load,
          "registered lazily",
        );
        const stack = await buildStack(config, "minio");
        try {
          assert.ok(stack.artifactStore instanceof MinIOArtifactStore);
          await stack.validate();
          const make = step(
            { name: "make", outputs: ["rows"] },
            () => Array.from({ length: 1000 }, (_, i) => i),
          );
          const total = step(
            { name: "total", inputs: ["rows"], outputs: ["sum"] },
            ({ rows }) => (rows as number[]).reduce((a, b) => a + b, 0),
          );
          const p = new Pipeline("remote_sum").add(make).add(total);
          const first = await p.run({ stack });
          assert.equal(first.status, "completed");
          assert.equal(first.outputs.sum, 499500);
          assert.equal(first.steps.total.cached, false);
          const second = await p.run({ stack });
          assert.equal(second.outputs.sum, 499500);
          assert.equal(second.steps.make.cached, true);
          assert.equal(second.steps.total.cached, true);
          const ref = first.steps.total.outputs.sum;
          assert.match(ref.uri, /^s3:\/\/flowyml-stack\/objects\//);
          const keys = await s3Keys(s3, "flowyml-stack", "objects/");
          assert.ok(keys.includes(ref.path), `${ref.path} in ${keys}`);
          const runs = await stack.metadataStore.listRuns();
          assert.ok(
            !JSON.stringify(runs).includes(s3.secretKey),
            "no secret in the metadata store",
          );
        } finally {
          await stack.close();
        }
      },
    );

    await t.step("the demo pipeline runs unchanged on the minio stack", async () => {
      const demo = new URL("../../examples/demo/pipeline.ts", import.meta.url).pathname;
      const config = parseConfig(
        `stacks:
  minio:
    artifact_store: { type: minio, endpoint: "${s3.endpoint}", bucket: flowyml-demo, access_key: "${s3.accessKey}", secret_key: { env: FLOWYML_TEST_S3_SECRET }, create_bucket: true }
    metadata_store: { type: sqlite, path: ${tmp.path}/demo.db }
`,
      );
      const stack = await buildStack(config, "minio");
      try {
        const pipeline = await importPipeline(demo);
        const result = await pipeline.run({ stack, params: { epochs: 20, rows: 200 } });
        assert.equal(result.status, "completed", result.error?.message ?? "");
        const keys = await s3Keys(s3, "flowyml-demo", "objects/");
        const produced = Object.values(result.steps).flatMap((s) =>
          Object.values(s.outputs).map((r) => r.path)
        );
        assert.ok(produced.length >= 5);
        for (const p of produced) assert.ok(keys.includes(p), `${p} is in the bucket`);
        const again = await pipeline.run({ stack, params: { epochs: 20, rows: 200 } });
        const uncached = Object.entries(again.steps).filter(([, s]) => !s.cached).map(([n]) => n);
        // save_best is declared `cache: false` (it writes a file); everything else is served from the cache.
        assert.deepEqual(uncached, ["save_best"]);
      } finally {
        await stack.close();
      }
    });
    store.close();
  } finally {
    Deno.env.delete("FLOWYML_TEST_S3_SECRET");
    Deno.env.delete("FLOWYML_TEST_S3_ACCESS");
    await s3.stop();
    await tmp.cleanup();
  }
});
