/**
 * Trusted plugins loaded by URL from a real HTTP server on 127.0.0.1: pinning,
 * tamper refusal, `component update`, least-privilege child runs, and the
 * failure modes (throws at import, missing methods, name conflict, missing
 * permission). Each CLI call is a real `deno run` of cli/main.ts.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { tempDir } from "../_helpers.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const sha = (s: string) => createHash("sha256").update(s).digest("hex");

const files = new Map<string, string>();
files.set(
  "/tagged.ts",
  `import { LocalArtifactStore } from "flowyml";
import { TAG } from "./tag.ts";
export const version = "1.0.0";
/** A local store that also writes which plugin version wrote last. */
export class TaggedArtifactStore extends LocalArtifactStore {
  static override readonly type = "tagged";
  override toDict() { return { ...super.toDict(), type: "tagged", tag: TAG }; }
  override async writeBytes(path: string, data: Uint8Array): Promise<void> {
    await Deno.mkdir(this.root, { recursive: true });
    await Deno.writeTextFile(this.root + "/TAG", TAG);
    return await super.writeBytes(path, data);
  }
}
export const components = [TaggedArtifactStore];
`,
);
files.set("/tag.ts", `export const TAG = "v1";\n`);
files.set(
  "/boom.ts",
  `throw new Error("boom at import");\nexport const components = [];\n`,
);
files.set(
  "/incomplete.ts",
  `import { ArtifactStore } from "flowyml";
export class HalfArtifactStore extends ArtifactStore {
  override toDict() { return { type: "half" }; }
}
export const components = [HalfArtifactStore];
`,
);
for (const v of ["a", "b"]) {
  files.set(
    `/dup_${v}.ts`,
    `import { LocalArtifactStore } from "flowyml";
export class Dup${v.toUpperCase()}ArtifactStore extends LocalArtifactStore { static override readonly type = "dup"; }
export const components = [Dup${v.toUpperCase()}ArtifactStore];
`,
  );
}
files.set(
  "/needy.ts",
  `import { LocalArtifactStore } from "flowyml";
/** Reads a variable it never declares in permissions(). */
export class NeedyArtifactStore extends LocalArtifactStore {
  static override readonly type = "needy";
  override async writeBytes(path: string, data: Uint8Array): Promise<void> {
    Deno.env.get("FLOWYML_TEST_SECRET");
    return await super.writeBytes(path, data);
  }
}
export const components = [NeedyArtifactStore];
`,
);

const PIPELINE = `import { Pipeline, step } from "flowyml";
const hello = step({ name: "hello", outputs: ["greeting"] }, () => "hi " + Date.now());
export default new Pipeline("plug").add(hello);
`;

const CONFIG = `default_stack: plug
stacks:
  plug:
    artifact_store: { type: tagged, path: .flowyml/artifacts }
  needy:
    artifact_store: { type: needy, path: .flowyml/needy }
`;

interface Env {
  port: number;
  base: string;
  denoDir: string;
  lock: string;
}

async function cli(env: Env, cwd: string, args: string[]) {
  const host = `127.0.0.1:${env.port}`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      `--allow-write=${cwd}`,
      "--allow-env",
      `--allow-run=${Deno.execPath()}`,
      `--allow-net=${host}`,
      `--allow-import=${host}`,
      "--no-prompt",
      `--config=${ROOT}deno.json`,
      `--lock=${env.lock}`,
      `${ROOT}cli/main.ts`,
      ...args,
    ],
    cwd,
    env: { NO_COLOR: "1", DENO_DIR: env.denoDir },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

async function withServer(fn: (env: Env, tmp: string) => Promise<void>) {
  const tmp = await tempDir("flowyml-plugins-");
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    (req) => {
      const body = files.get(new URL(req.url).pathname);
      return body === undefined ? new Response("not found", { status: 404 }) : new Response(body, {
        headers: { "content-type": "application/typescript" },
      });
    },
  );
  try {
    const denoDir = `${tmp.path}/deno_dir`;
    const lock = `${tmp.path}/deno.lock`; // moved into each project folder by project()
    const env = {
      port: server.addr.port,
      base: `http://127.0.0.1:${server.addr.port}`,
      denoDir,
      lock,
    };
    await fn(env, tmp.path);
  } finally {
    ac.abort();
    await server.finished;
    await tmp.cleanup();
  }
}

async function project(env: Env, tmp: string, name: string): Promise<string> {
  const dir = `${tmp}/${name}`;
  await Deno.mkdir(dir);
  // The CLI runs under the project's own Deno lockfile (a copy of flowyml's).
  env.lock = `${dir}/deno.lock`;
  await Deno.copyFile(`${ROOT}deno.lock`, env.lock);
  await Deno.writeTextFile(`${dir}/flowyml.yaml`, CONFIG);
  await Deno.writeTextFile(`${dir}/pipeline.ts`, PIPELINE);
  return dir;
}

Deno.test("plugins by URL: pin, list, run least-privilege, refuse tampering, update", async (t) => {
  files.set("/tag.ts", `export const TAG = "v1";\n`);
  await withServer(async (env, tmp) => {
    const dir = await project(env, tmp, "proj");
    const url = `${env.base}/tagged.ts`;
    let pinned = "";

    await t.step("component load pins the module graph", async () => {
      const r = await cli(env, dir, ["component", "load", url]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stdout,
        /loaded artifact_store "tagged" 1\.0\.0 from .*\(url\)/,
      );
      const lock = JSON.parse(await Deno.readTextFile(`${dir}/flowyml.lock`));
      const rec = lock.components[0];
      assert.equal(rec.source, url);
      assert.deepEqual(rec.modules, {
        [`${env.base}/tag.ts`]: sha(files.get("/tag.ts")!),
        [url]: sha(files.get("/tagged.ts")!),
      });
      const lines = Object.keys(rec.modules).sort().map((k) => `${k} ${rec.modules[k]}\n`).join("");
      assert.equal(rec.integrity, `sha256-${sha(lines)}`);
      pinned = rec.integrity;
    });

    await t.step("component list and show see it", async () => {
      const list = await cli(env, dir, ["component", "list"]);
      assert.equal(list.code, 0, list.stderr);
      assert.match(
        list.stdout,
        /artifact_store\s+tagged\s+url\s+1\.0\.0\s+http:\/\/127\.0\.0\.1:\d+\/tagged\.ts\s+sha256-/,
      );
      assert.match(list.stdout, /artifact_store\s+local\s+builtin/);
      const show = await cli(env, dir, ["component", "show", "tagged"]);
      assert.equal(show.code, 0, show.stderr);
      assert.match(show.stdout, /origin: url, version 1\.0\.0/);
      assert.match(show.stdout, /config schema:\n\{/);
      assert.match(show.stdout, /validate\(\): ok/);
    });

    await t.step(
      "permissions are computed from the stack, config, plugin and pipeline",
      async () => {
        const r = await cli(env, dir, [
          "permissions",
          "--stack",
          "plug",
          "pipeline.ts",
        ]);
        assert.equal(r.code, 0, r.stderr);
        const flags = r.stdout.trim().split(" ");
        assert.ok(
          flags.includes(`--allow-import=127.0.0.1:${env.port}`),
          r.stdout,
        );
        assert.ok(flags.includes("--allow-write=.flowyml"), r.stdout);
        assert.ok(
          flags.includes(
            "--allow-read=.flowyml,flowyml.lock,flowyml.yaml,pipeline.ts",
          ),
          r.stdout,
        );
        assert.ok(
          !flags.some((f) => f.startsWith("--allow-net") || f.startsWith("--allow-run")),
          r.stdout,
        );
        const json = await cli(env, dir, [
          "permissions",
          "--stack",
          "plug",
          "--format",
          "deno-json",
        ]);
        const set = JSON.parse(json.stdout).permissions.flowyml;
        assert.deepEqual(set.write, [`${dir}/.flowyml`]);
        assert.deepEqual(set.import, [`127.0.0.1:${env.port}`]);
      },
    );

    await t.step("flowyml run runs it in a least-privilege child", async () => {
      const r = await cli(env, dir, [
        "run",
        "pipeline.ts",
        "--quiet",
        "--show-flags",
      ]);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.match(r.stdout, /status completed/);
      assert.match(
        r.stderr,
        /run --allow-read=\S+ --allow-write=\.flowyml .*--allow-import=127\.0\.0\.1:\d+ (--allow-sys=\S+ )?--no-prompt .*--lock=\S+\.deno\.lock --frozen /,
      );
      assert.equal(
        await Deno.readTextFile(`${dir}/.flowyml/artifacts/TAG`),
        "v1",
      );
    });

    await t.step(
      "changed served content is refused, naming both hashes",
      async () => {
        files.set("/tag.ts", `export const TAG = "v2"; // changed upstream\n`);
        const r = await cli(env, dir, ["component", "list"]);
        assert.equal(r.code, 1);
        assert.match(
          r.stderr,
          /refusing to load http:\/\/127\.0\.0\.1:\d+\/tagged\.ts: its content changed/,
        );
        assert.ok(r.stderr.includes(`pinned:  ${pinned}`), r.stderr);
        assert.match(r.stderr, /now: {5}sha256-[0-9a-f]{64}/);
        assert.ok(!r.stderr.includes(`now:     ${pinned}`));
        assert.match(r.stderr, /changed: http:\/\/127\.0\.0\.1:\d+\/tag\.ts/);
        assert.match(r.stderr, /flowyml component update tagged/);
        const run = await cli(env, dir, ["run", "pipeline.ts", "--quiet"]);
        assert.equal(run.code, 1);
        assert.match(run.stderr, /refusing to load/);
        const again = await cli(env, dir, ["component", "load", url]);
        assert.equal(again.code, 1);
        assert.match(again.stderr, /refusing to load/);
      },
    );

    await t.step(
      "component update accepts it; the run executes the new content",
      async () => {
        const r = await cli(env, dir, ["component", "update", "tagged"]);
        assert.equal(r.code, 0, r.stderr);
        assert.ok(r.stdout.includes(`was: ${pinned}`), r.stdout);
        const now = JSON.parse(await Deno.readTextFile(`${dir}/flowyml.lock`))
          .components[0];
        assert.notEqual(now.integrity, pinned);
        assert.equal(
          now.modules[`${env.base}/tag.ts`],
          sha(files.get("/tag.ts")!),
        );
        assert.ok(r.stdout.includes(`now: ${now.integrity}`));
        // Deno's cache still holds v1; the child's generated lockfile makes Deno fetch v2.
        const run = await cli(env, dir, [
          "run",
          "pipeline.ts",
          "--quiet",
          "--no-cache",
        ]);
        assert.equal(run.code, 0, run.stderr + run.stdout);
        assert.equal(
          await Deno.readTextFile(`${dir}/.flowyml/artifacts/TAG`),
          "v2",
        );
      },
    );

    await t.step(
      "a permission the computed set lacks names component, resource and flag",
      async () => {
        const load = await cli(env, dir, [
          "component",
          "load",
          `${env.base}/needy.ts`,
        ]);
        assert.equal(load.code, 0, load.stderr);
        const r = await cli(env, dir, [
          "run",
          "pipeline.ts",
          "--stack",
          "needy",
          "--quiet",
        ]);
        assert.equal(r.code, 1, r.stdout);
        assert.match(
          r.stderr,
          /component artifact_store "needy" \(plugin http:\/\/127\.0\.0\.1:\d+\/needy\.ts\) needs env access to "FLOWYML_TEST_SECRET"/,
        );
        assert.match(r.stderr, /--allow-env=FLOWYML_TEST_SECRET/);
        assert.match(r.stderr, /--grant env=FLOWYML_TEST_SECRET/);
        const ok = await cli(env, dir, [
          "run",
          "pipeline.ts",
          "--stack",
          "needy",
          "--quiet",
          "--grant",
          "env=FLOWYML_TEST_SECRET",
        ]);
        assert.equal(ok.code, 0, ok.stderr + ok.stdout);
      },
    );
  });
});

Deno.test("plugins by URL: import failure, missing methods, name conflict", async () => {
  await withServer(async (env, tmp) => {
    const dir = await project(env, tmp, "bad");
    const boom = await cli(env, dir, [
      "component",
      "load",
      `${env.base}/boom.ts`,
    ]);
    assert.equal(boom.code, 1);
    assert.match(
      boom.stderr,
      /could not import component module http:\/\/127\.0\.0\.1:\d+\/boom\.ts: .*boom at import/,
    );

    const half = await cli(env, dir, [
      "component",
      "load",
      `${env.base}/incomplete.ts`,
    ]);
    assert.equal(half.code, 1);
    assert.match(
      half.stderr,
      // (the kernel names either the byte-shape methods alone or both contract shapes)
      /cannot register HalfArtifactStore as artifact_store: missing required method\(s\) .*(uriFor, writeBytes, readBytes|writeBytes, readBytes, exists, uriFor)/,
    );
    assert.match(
      half.stderr,
      /fix: implement (uriFor\(\), writeBytes\(\), readBytes\(\)|.*writeBytes, readBytes, exists, uriFor)/,
    );

    const a = await cli(env, dir, [
      "component",
      "load",
      `${env.base}/dup_a.ts`,
    ]);
    assert.equal(a.code, 0, a.stderr);
    const b = await cli(env, dir, [
      "component",
      "load",
      `${env.base}/dup_b.ts`,
    ]);
    assert.equal(b.code, 1);
    assert.match(
      b.stderr,
      /component name conflict: artifact_store "dup" is already registered by DupAArtifactStore/,
    );
    assert.match(b.stderr, /DupBArtifactStore cannot take it/);

    // Nothing failed was recorded.
    const lock = JSON.parse(await Deno.readTextFile(`${dir}/flowyml.lock`));
    assert.deepEqual(lock.components.map((c: { source: string }) => c.source), [
      `${env.base}/dup_a.ts`,
    ]);
  });
});
