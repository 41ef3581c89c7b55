/**
 * OCIContainerRegistry and the daemonless image build against real
 * Debian docker-registry servers (one open, one with htpasswd basic auth),
 * verified independently with skopeo.
 */
import assert from "node:assert/strict";
import { Command } from "commander";
import { freePort, hasBinary, requireService, tempDir } from "../_helpers.ts";
import {
  REGISTRY_HOW,
  registryAvailable,
  type RegistryServer,
  startRegistry,
} from "../services/oci_registry.ts";
import { OCIContainerRegistry } from "../../plugins/oci/container_registry.ts";
import { OciLayout } from "../../plugins/oci/layout.ts";
import { MEDIA } from "../../plugins/oci/client.ts";
import { tarStream } from "../../plugins/oci/tar.ts";
import { buildImage, parseImageRef } from "../../plugins/oci/image_build.ts";
import { signV4 } from "../../plugins/oci/ecr.ts";
import { register as registerImageCommands } from "../../plugins/oci/commands.ts";
import { cliServices } from "../../cli/services.ts";
import { SQLiteMetadataStore } from "../../plugins/sqlite/metadata_store.ts";
import "../../plugins/mod.ts";

const run = requireService(
  "docker-registry + skopeo",
  registryAvailable() && hasBinary("skopeo"),
  REGISTRY_HOW,
);

async function skopeo(args: string[]): Promise<Record<string, unknown>> {
  const out = await new Deno.Command("skopeo", { args, stdout: "piped", stderr: "piped" }).output();
  const err = new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`skopeo ${args.join(" ")} failed: ${err}`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

async function makeProject(dir: string): Promise<void> {
  await Deno.mkdir(`${dir}/node_modules/.deno/pkg@1.0.0/node_modules/pkg`, { recursive: true });
  await Deno.writeTextFile(`${dir}/deno.json`, JSON.stringify({ imports: {} }));
  await Deno.writeTextFile(`${dir}/deno.lock`, JSON.stringify({ version: "5" }));
  await Deno.writeTextFile(`${dir}/pipeline.ts`, "export default 1;\n");
  await Deno.writeTextFile(
    `${dir}/node_modules/.deno/pkg@1.0.0/node_modules/pkg/index.js`,
    "module.exports = 1;\n",
  );
  await Deno.symlink(".deno/pkg@1.0.0/node_modules/pkg", `${dir}/node_modules/pkg`);
  // Incompressible data so the layer spans several 1 MiB upload chunks.
  const data = new Uint8Array(3 << 20);
  for (let i = 0; i < data.length; i += 65536) crypto.getRandomValues(data.subarray(i, i + 65536));
  await Deno.writeFile(`${dir}/data.bin`, data);
  const long = `${dir}/src/${"deeply_nested_folder_name/".repeat(6)}`;
  await Deno.mkdir(long, { recursive: true });
  await Deno.writeTextFile(
    `${long}/model_with_a_rather_long_file_name_for_pax_headers.ts`,
    "export {};\n",
  );
  await Deno.mkdir(`${dir}/.git`);
  await Deno.writeTextFile(`${dir}/.git/HEAD`, "ref: x\n");
}

/** Push a tiny base image (one layer with etc/base.txt) to `repo:tag`. */
async function pushBase(reg: OCIContainerRegistry, dir: string): Promise<string> {
  await Deno.mkdir(`${dir}/base/etc`, { recursive: true });
  await Deno.writeTextFile(`${dir}/base/etc/base.txt`, "base image\n");
  const layout = reg.layout("base");
  await layout.init();
  const { createHash } = await import("node:crypto");
  const tarBytes = new Uint8Array(
    await new Response(tarStream([
      { name: "etc", type: "dir" },
      { name: "etc/base.txt", type: "file", source: `${dir}/base/etc/base.txt`, size: 11 },
    ])).arrayBuffer(),
  );
  const diffId = `sha256:${createHash("sha256").update(tarBytes).digest("hex")}`;
  const gz = new Blob([tarBytes]).stream().pipeThrough(new CompressionStream("gzip"));
  const layer = await layout.writeBlobStream(gz);
  const config = await layout.writeBlob(new TextEncoder().encode(JSON.stringify({
    architecture: "amd64",
    os: "linux",
    config: { Env: ["PATH=/usr/bin:/bin"], Labels: { base: "yes" } },
    rootfs: { type: "layers", diff_ids: [diffId] },
  })));
  const manifest = await layout.writeBlob(new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    config: { mediaType: MEDIA.ociConfig, ...config },
    layers: [{ mediaType: MEDIA.ociLayerGzip, ...layer }],
  })));
  await layout.setRef("1", { mediaType: MEDIA.ociManifest, ...manifest });
  return await reg.pushImage("base", "1");
}

Deno.test(
  { name: "oci: push, build, pull on an open registry; skopeo sees it", ignore: !run },
  async (t) => {
    const server = await startRegistry();
    const tmp = await tempDir();
    try {
      const reg = new OCIContainerRegistry({
        uri: `${server.host}/team`,
        image_store: `${tmp.path}/images`,
        chunk_size_mb: 1,
      });
      assert.equal(reg.insecure, true);
      assert.equal(await reg.validate(), true);
      assert.equal(reg.getImageUri("demo", "v1"), `${server.host}/team/demo:v1`);

      const baseUri = await pushBase(reg, tmp.path);
      assert.match(baseUri, new RegExp(`^${server.host}/team/base:1@sha256:[a-f0-9]{64}$`));

      const project = `${tmp.path}/project`;
      await Deno.mkdir(project);
      await makeProject(project);

      let img!: Awaited<ReturnType<typeof buildImage>>;
      await t.step("build on the base image and push in 1 MiB chunks", async () => {
        img = await buildImage({
          registry: reg,
          pipeline: "pipeline.ts",
          root: project,
          baseImage: `${server.host}/team/base:1`,
          name: "demo",
          tag: "v1",
        });
        assert.equal(img.manifest.layers.length, 2);
        assert.ok(img.layer.size > 3 << 20, "the layer holds the 3 MiB data file");
        assert.equal(img.uri, `${server.host}/team/demo:v1@${img.digest}`);
        assert.deepEqual(await reg.client().listTags("team/demo"), ["v1"]);
      });

      await t.step("skopeo inspect agrees on digest, layers and config", async () => {
        const info = await skopeo([
          "inspect",
          "--tls-verify=false",
          `docker://${server.host}/team/demo:v1`,
        ]);
        assert.equal(info.Digest, img.digest);
        assert.deepEqual(info.Layers, img.manifest.layers.map((l) => l.digest));
        const cfg = await skopeo([
          "inspect",
          "--config",
          "--tls-verify=false",
          `docker://${server.host}/team/demo:v1`,
        ]);
        const inner = cfg.config as Record<string, unknown>;
        assert.equal(inner.WorkingDir, "/app");
        assert.deepEqual(inner.Entrypoint, [
          "deno",
          "run",
          "-A",
          "jsr:@flowyml/flowyml/cli",
          "run",
          "/app/pipeline.ts",
        ]);
        assert.equal((inner.Labels as Record<string, string>).base, "yes", "base config kept");
        assert.equal((cfg.rootfs as { diff_ids: string[] }).diff_ids.length, 2);
      });

      await t.step("rebuilding an unchanged project gives the same digest", async () => {
        const again = await buildImage({
          registry: reg,
          pipeline: "pipeline.ts",
          root: project,
          baseImage: `${server.host}/team/base:1`,
          name: "demo",
          tag: "v1",
        });
        assert.equal(again.digest, img.digest);
      });

      await t.step("pullImage into a fresh store; the layer has the project files", async () => {
        const other = new OCIContainerRegistry({
          uri: `${server.host}/team`,
          image_store: `${tmp.path}/pulled`,
        });
        await other.pullImage("demo", "v1");
        const layout = new OciLayout(`${tmp.path}/pulled/demo`);
        const desc = await layout.getRef("v1");
        assert.equal(desc?.digest, img.digest);
        const layerFile = layout.blobPath(img.layer.digest);
        const out = await new Deno.Command("tar", { args: ["-tzvf", layerFile], stdout: "piped" })
          .output();
        const listing = new TextDecoder().decode(out.stdout);
        for (const f of ["app/deno.json", "app/deno.lock", "app/pipeline.ts", "app/data.bin"]) {
          assert.match(listing, new RegExp(` ${f.replace(".", "\\.")}\\n`), f);
        }
        assert.match(listing, /app\/node_modules\/pkg -> \.deno\/pkg@1\.0\.0\/node_modules\/pkg/);
        assert.match(listing, /model_with_a_rather_long_file_name_for_pax_headers\.ts/);
        assert.doesNotMatch(listing, /app\/\.git/);
        // Extract with GNU tar and compare the data file byte for byte.
        const x = `${tmp.path}/x`;
        await Deno.mkdir(x);
        const ex = await new Deno.Command("tar", { args: ["-xzf", layerFile, "-C", x] }).output();
        assert.ok(ex.success);
        assert.deepEqual(
          await Deno.readFile(`${x}/app/data.bin`),
          await Deno.readFile(`${project}/data.bin`),
        );
      });
    } finally {
      await server.stop();
      await tmp.cleanup();
    }
  },
);

Deno.test({
  name: "oci: htpasswd registry: auth errors, push, CLI build recorded on a run",
  ignore: !run,
}, async (t) => {
  const server: RegistryServer = await startRegistry({ auth: true });
  const tmp = await tempDir();
  try {
    await t.step("validate() without or with wrong credentials says what is wrong", async () => {
      const anon = new OCIContainerRegistry({ uri: server.host, image_store: `${tmp.path}/i` });
      await assert.rejects(() => anon.validate(), /authentication required[\s\S]*auth: basic/);
      const wrong = new OCIContainerRegistry({
        uri: server.host,
        username: server.username,
        password: "not-the-password",
        image_store: `${tmp.path}/i`,
      });
      await assert.rejects(() => wrong.validate(), (err: Error) => {
        assert.match(err.message, /credentials were not accepted/);
        assert.doesNotMatch(err.message, /not-the-password/);
        return true;
      });
      const down = new OCIContainerRegistry({
        uri: `127.0.0.1:${freePort()}`,
        image_store: `${tmp.path}/i`,
        max_retries: 0,
      });
      await assert.rejects(() => down.validate(), /unreachable|refused/i);
    });

    Deno.env.set("FLOWYML_TEST_REGISTRY_PASSWORD", server.password!);
    const project = `${tmp.path}/project`;
    await Deno.mkdir(project);
    await makeProject(project);
    const config = `${tmp.path}/flowyml.yaml`;
    await Deno.writeTextFile(
      config,
      `stacks:
  reg:
    metadata_store: { type: sqlite, path: ${tmp.path}/metadata.db }
    artifact_store: { type: local, path: ${tmp.path}/artifacts }
    container_registry:
      type: oci
      uri: ${server.host}/ml
      username: ${server.username}
      password: { env: FLOWYML_TEST_REGISTRY_PASSWORD }
      image_store: ${tmp.path}/images
`,
    );
    const meta = new SQLiteMetadataStore({ path: `${tmp.path}/metadata.db` });
    await meta.createRun({
      runId: "run-1",
      pipeline: "p",
      status: "completed",
      stack: "reg",
      params: {},
      startedAt: Date.now(),
    });

    await t.step(
      "flowyml image build --stack reg --run run-1 pushes and records the digest",
      async () => {
        const prev = Deno.env.get("FLOWYML_CONFIG");
        Deno.env.set("FLOWYML_CONFIG", config);
        const logs: string[] = [];
        const log = console.log;
        console.log = (...a: unknown[]) => logs.push(a.join(" "));
        try {
          const program = new Command("flowyml").exitOverride();
          registerImageCommands(program, cliServices());
          await program.parseAsync(
            [
              "image",
              "build",
              "--stack",
              "reg",
              "--root",
              project,
              "--base",
              "scratch",
              "--name",
              "demo",
              "--tag",
              "t1",
              "--run",
              "run-1",
              "--json",
              `${project}/pipeline.ts`,
            ],
            { from: "user" },
          );
        } finally {
          console.log = log;
          if (prev === undefined) Deno.env.delete("FLOWYML_CONFIG");
          else Deno.env.set("FLOWYML_CONFIG", prev);
        }
        const out = JSON.parse(logs.join("\n"));
        assert.match(out.digest, /^sha256:[a-f0-9]{64}$/);
        assert.equal(out.image, `${server.host}/ml/demo:t1@${out.digest}`);
        assert.equal((await meta.getRun("run-1"))?.image, out.image);
        assert.ok(!JSON.stringify(out).includes(server.password!));
        const info = await skopeo([
          "inspect",
          "--tls-verify=false",
          "--creds",
          `${server.username}:${server.password}`,
          `docker://${server.host}/ml/demo:t1`,
        ]);
        assert.equal(info.Digest, out.digest);
        assert.equal((info.Layers as string[]).length, 1, "scratch base: only the app layer");
      },
    );

    await t.step("toDict keeps the secret reference, never the password", () => {
      const reg = new OCIContainerRegistry({
        uri: server.host,
        username: server.username,
        password: { env: "FLOWYML_TEST_REGISTRY_PASSWORD" },
      });
      const d = JSON.stringify(reg.toDict());
      assert.ok(!d.includes(server.password!));
      assert.match(d, /FLOWYML_TEST_REGISTRY_PASSWORD/);
      assert.deepEqual(reg.permissions().env, ["FLOWYML_TEST_REGISTRY_PASSWORD"]);
    });
    meta.close();
  } finally {
    Deno.env.delete("FLOWYML_TEST_REGISTRY_PASSWORD");
    await server.stop();
    await tmp.cleanup();
  }
});

Deno.test("oci: image references and ECR SigV4 signing (checked against minio's signer)", async () => {
  assert.deepEqual(parseImageRef("denoland/deno:2.9.6"), {
    host: "docker.io",
    repo: "denoland/deno",
    reference: "2.9.6",
  });
  assert.deepEqual(parseImageRef("ubuntu"), {
    host: "docker.io",
    repo: "library/ubuntu",
    reference: "latest",
  });
  assert.deepEqual(parseImageRef("127.0.0.1:5000/a/b@sha256:ab"), {
    host: "127.0.0.1:5000",
    repo: "a/b",
    reference: "sha256:ab",
  });
  assert.equal(
    new OCIContainerRegistry({ uri: "docker.io" }).getImageUri("ubuntu", "1"),
    "docker.io/library/ubuntu:1",
  );
  const { signV4: minioSign } = await import("minio/dist/esm/signing.mjs");
  const date = new Date("2024-05-01T12:34:56Z");
  const headers = {
    host: "api.ecr.eu-west-1.amazonaws.com",
    "x-amz-date": "20240501T123456Z",
    "x-amz-target": "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken",
  };
  const hash = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
  const creds = {
    accessKeyId: "AKIDEXAMPLE",
    secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
  };
  const mine = signV4({ method: "POST", path: "/", headers, payloadHash: hash }, creds, {
    region: "eu-west-1",
    service: "ecr",
    date,
  });
  const theirs = minioSign(
    { method: "POST", path: "/", headers, protocol: "https:" },
    creds.accessKeyId,
    creds.secretAccessKey,
    "eu-west-1",
    date,
    hash,
    "ecr",
  );
  assert.equal(mine, theirs);
});
