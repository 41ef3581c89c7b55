/**
 * A component package published to a real npm registry (verdaccio on
 * 127.0.0.1, no uplinks) and loaded with `flowyml component load npm:…`:
 * registration, the registry integrity pinned in flowyml.lock, a pipeline run
 * in the least-privilege child, exact versions (publishing 1.0.1 changes
 * nothing for `@1.0.0`; a range is refused) and a republished 1.0.0 refused.
 * Each CLI call is a real `deno run` of cli/main.ts with
 * `NPM_CONFIG_REGISTRY` pointing at the test registry.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { requireService, tempDir } from "../_helpers.ts";
import {
  NPM_REGISTRY_HOW,
  type NpmRegistry,
  npmRegistryAvailable,
  startNpmRegistry,
} from "../services/npm_registry.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const PKG = "flowyml-hello-store";
const dec = new TextDecoder();

/** The package as a plugin author writes it: no dependencies, flowyml handed in. */
function indexJs(version: string): string {
  return `import { mkdir, writeFile } from "node:fs/promises";

export const version = "${version}";

/**
 * An npm package cannot import the host's copy of flowyml, so flowyml calls
 * components() with its public API and the classes extend the host's own.
 */
export function components(flowyml) {
  class HelloArtifactStore extends flowyml.LocalArtifactStore {
    static type = "hello";
    static version = version;
    toDict() {
      return { ...super.toDict(), type: "hello" };
    }
    async writeBytes(path, data) {
      await mkdir(this.root, { recursive: true });
      await writeFile(this.root + "/HELLO", version);
      return await super.writeBytes(path, data);
    }
  }
  return [HelloArtifactStore];
}
`;
}

async function writePackage(dir: string, version: string, extra = ""): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/package.json`,
    JSON.stringify(
      {
        name: PKG,
        version,
        type: "module",
        main: "index.js",
        exports: { ".": "./index.js" },
        files: ["index.js"],
        keywords: ["flowyml", "flowyml-component"],
        license: "MIT",
      },
      null,
      2,
    ),
  );
  await Deno.writeTextFile(`${dir}/index.js`, indexJs(version) + extra);
}

const PIPELINE = `import { Pipeline, step } from "flowyml";
const hello = step({ name: "hello", outputs: ["greeting"] }, () => "hi " + Date.now());
export default new Pipeline("npm_plug").add(hello);
`;

const CONFIG = `default_stack: hello
stacks:
  hello:
    artifact_store: { type: hello, path: .flowyml/hello }
`;

/** The npm cache folder Deno uses for this test's registry (it keys the cache by registry). */
function cacheFolders(denoDir: string, port: number): string[] {
  return [`${denoDir}/npm/${port}`, `${denoDir}/npm/127.0.0.1_${port}`];
}

/**
 * Loading a new npm package makes Deno re-read the registry metadata of
 * flowyml's own dependencies, which a registry without uplinks does not have.
 * Write that metadata into the test's Deno cache, built from what is already
 * installed: each locked `name@version` of `deno.lock` with its integrity, and
 * the dependency ranges of its installed `package.json` under `node_modules`.
 * The test registry then only serves the plugin, and nothing leaves the machine.
 * Returns the packages whose installed files it could not find.
 */
async function seedDenoCache(denoDir: string, port: number): Promise<string[]> {
  const lock = JSON.parse(await Deno.readTextFile(`${ROOT}deno.lock`));
  const byName = new Map<string, Record<string, unknown>>();
  const missing: string[] = [];
  for (const [key, entry] of Object.entries(lock.npm ?? {}) as [string, { integrity: string }][]) {
    const m = /^(@?[^@]+)@([^_]+)/.exec(key);
    if (!m) continue;
    const [, name, version] = m;
    const installed =
      `${ROOT}node_modules/.deno/${name.replace("/", "+")}@${key.slice(name.length + 1)}` +
      `/node_modules/${name}/package.json`;
    // A package with peer dependencies is keyed `name@version_peer@x` in deno.lock, and may be
    // installed under `name@version` alone.
    const plain = `${ROOT}node_modules/.deno/${name.replace("/", "+")}@${version}` +
      `/node_modules/${name}/package.json`;
    let pkg: Record<string, unknown>;
    try {
      pkg = JSON.parse(
        await Deno.readTextFile(installed).catch(() => Deno.readTextFile(plain)),
      );
    } catch {
      // Not installed: an optional package for another platform. The lock has all Deno needs.
      const e = entry as { os?: string[]; cpu?: string[]; optional?: boolean };
      if (!e.optional && !e.os && !e.cpu) {
        missing.push(name);
        continue;
      }
      pkg = { os: e.os, cpu: e.cpu };
    }
    const base = name.split("/").pop();
    const versions = byName.get(name) ?? {};
    versions[version] = {
      name,
      version,
      dependencies: pkg.dependencies,
      optionalDependencies: pkg.optionalDependencies,
      peerDependencies: pkg.peerDependencies,
      peerDependenciesMeta: pkg.peerDependenciesMeta,
      bin: pkg.bin,
      os: pkg.os,
      cpu: pkg.cpu,
      dist: {
        tarball: `http://127.0.0.1:${port}/${name}/-/${base}-${version}.tgz`,
        integrity: entry.integrity,
      },
    };
    byName.set(name, versions);
  }
  const old = "2020-01-01T00:00:00.000Z"; // old enough for Deno's minimum dependency age
  for (const [name, versions] of byName) {
    const list = Object.keys(versions);
    const body = JSON.stringify({
      name,
      "dist-tags": { latest: list[list.length - 1] },
      versions,
      time: Object.fromEntries(list.map((v) => [v, old])),
      "_deno.packumentFormat": "full",
    });
    for (const dir of cacheFolders(denoDir, port)) {
      await Deno.mkdir(`${dir}/${name}`, { recursive: true });
      await Deno.writeTextFile(`${dir}/${name}/registry.json`, body);
    }
  }
  return missing;
}

interface Env {
  registry: NpmRegistry;
  denoDir: string;
  dir: string;
}

async function cli(env: Env, args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      // Deno refuses npm versions younger than 24 h by default; ours are seconds old.
      "--minimum-dependency-age=0",
      `--config=${ROOT}deno.json`,
      `--lock=${env.dir}/deno.lock`,
      `${ROOT}cli/main.ts`,
      ...args,
    ],
    cwd: env.dir,
    env: { NO_COLOR: "1", DENO_DIR: env.denoDir, NPM_CONFIG_REGISTRY: env.registry.url },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function packument(env: Env): Promise<Record<string, unknown>> {
  const res = await fetch(`${env.registry.url}${PKG}`);
  assert.equal(res.status, 200);
  return await res.json();
}

Deno.test({
  name: "plugins from npm: publish, load npm:pkg@x.y.z, pin, run, exact versions",
  ignore: !requireService("npm registry (verdaccio)", npmRegistryAvailable(), NPM_REGISTRY_HOW),
  async fn(t) {
    const tmp = await tempDir("flowyml-npm-plugins-");
    const registry = await startNpmRegistry();
    try {
      const denoDir = `${tmp.path}/deno_dir`;
      const missing = await seedDenoCache(denoDir, registry.port);
      if (
        !requireService(
          "Deno's npm metadata cache of flowyml's dependencies",
          missing.length === 0,
          `missing ${missing.slice(0, 5).join(", ")}…; run \`deno install\` in the repo`,
        )
      ) return;
      const dir = `${tmp.path}/proj`;
      await Deno.mkdir(dir);
      // The CLI runs under the project's own Deno lockfile (a copy of flowyml's).
      await Deno.copyFile(`${ROOT}deno.lock`, `${dir}/deno.lock`);
      await Deno.writeTextFile(`${dir}/flowyml.yaml`, CONFIG);
      await Deno.writeTextFile(`${dir}/pipeline.ts`, PIPELINE);
      const env: Env = { registry, denoDir, dir };
      const spec = `npm:${PKG}@1.0.0`;
      let pinned = "";

      await t.step("npm publish to the registry", async () => {
        await writePackage(`${tmp.path}/pkg-1.0.0`, "1.0.0");
        await registry.publish(`${tmp.path}/pkg-1.0.0`);
        const doc = await packument(env);
        assert.deepEqual(Object.keys(doc.versions as object), ["1.0.0"]);
      });

      await t.step("component load registers it and pins the registry integrity", async () => {
        const r = await cli(env, ["component", "load", spec]);
        assert.equal(r.code, 0, r.stderr + r.stdout);
        assert.match(
          r.stdout,
          /loaded artifact_store "hello" 1\.0\.0 from npm:flowyml-hello-store@1\.0\.0 \(npm\)/,
        );
        const dist =
          ((await packument(env)).versions as Record<string, { dist: Record<string, string> }>)[
            "1.0.0"
          ].dist;
        // The registry's integrity is the sha512 of the tarball it serves.
        const tgz = new Uint8Array(await (await fetch(dist.tarball)).arrayBuffer());
        const sri = `sha512-${createHash("sha512").update(tgz).digest("base64")}`;
        assert.equal(dist.integrity, sri);
        const lock = JSON.parse(await Deno.readTextFile(`${dir}/flowyml.lock`));
        assert.equal(lock.components.length, 1);
        const rec = lock.components[0];
        assert.equal(rec.source, spec);
        assert.equal(rec.origin, "npm");
        assert.equal(rec.integrity, sri);
        assert.deepEqual(rec.modules, { [spec]: sri });
        assert.deepEqual(rec.npm, { package: `${PKG}@1.0.0`, integrity: sri, dependencies: [] });
        assert.deepEqual(rec.entries, [{
          kind: "artifact_store",
          type: "hello",
          version: "1.0.0",
        }]);
        assert.match(r.stdout, new RegExp(`pinned ${sri.replace(/[+/]/g, "\\$&")} \\(1 module`));
        pinned = sri;
        // What Deno installed is what was published.
        assert.equal(
          await Deno.readTextFile(
            `${ROOT}node_modules/.deno/${PKG}@1.0.0/node_modules/${PKG}/index.js`,
          ),
          indexJs("1.0.0"),
        );
      });

      await t.step("component list shows origin npm and version 1.0.0", async () => {
        const r = await cli(env, ["component", "list"]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(
          r.stdout,
          /artifact_store\s+hello\s+npm\s+1\.0\.0\s+npm:flowyml-hello-store@1\.0\.0\s+sha512-/,
        );
      });

      await t.step(
        "a pipeline runs on a stack using it, in the least-privilege child",
        async () => {
          const r = await cli(env, ["run", "pipeline.ts", "--quiet", "--show-flags"]);
          assert.equal(r.code, 0, r.stderr + r.stdout);
          assert.match(r.stdout, /status completed/);
          const lockPath = /--lock=(\S+\.deno\.lock) --frozen /.exec(r.stderr)?.[1];
          assert.ok(lockPath, r.stderr);
          assert.match(r.stderr, /--allow-write=\.flowyml[ ,]/);
          assert.equal(await Deno.readTextFile(`${dir}/.flowyml/hello/HELLO`), "1.0.0");
          // The child's Deno lockfile pins the tarball to the registry's integrity.
          // It is frozen: a module or package it does not pin cannot load.
          const denoLock = JSON.parse(await Deno.readTextFile(lockPath));
          assert.equal(denoLock.specifiers[spec], "1.0.0");
          assert.deepEqual(denoLock.npm[`${PKG}@1.0.0`], { integrity: pinned });
        },
      );

      await t.step("publishing 1.0.1 does not change what @1.0.0 loads", async () => {
        await writePackage(`${tmp.path}/pkg-1.0.1`, "1.0.1");
        await registry.publish(`${tmp.path}/pkg-1.0.1`);
        const doc = await packument(env);
        assert.equal((doc["dist-tags"] as Record<string, string>).latest, "1.0.1");
        await Deno.remove(`${dir}/.flowyml/hello/HELLO`);
        const run = await cli(env, ["run", "pipeline.ts", "--quiet", "--no-cache"]);
        assert.equal(run.code, 0, run.stderr + run.stdout);
        assert.equal(await Deno.readTextFile(`${dir}/.flowyml/hello/HELLO`), "1.0.0");
        const again = await cli(env, ["component", "load", spec]);
        assert.equal(again.code, 0, again.stderr);
        assert.match(again.stdout, /"hello" 1\.0\.0/);
        const rec = JSON.parse(await Deno.readTextFile(`${dir}/flowyml.lock`)).components[0];
        assert.equal(rec.integrity, pinned);
      });

      await t.step(
        "declared in a project's deno.json: no component load, pinned on first use",
        async () => {
          const dir2 = `${tmp.path}/declared`;
          await Deno.mkdir(dir2);
          await Deno.copyFile(`${ROOT}deno.lock`, `${dir2}/deno.lock`);
          await Deno.writeTextFile(`${dir2}/flowyml.yaml`, CONFIG);
          await Deno.writeTextFile(`${dir2}/pipeline.ts`, PIPELINE);
          await Deno.writeTextFile(
            `${dir2}/deno.json`,
            JSON.stringify({ flowyml: { plugins: [spec] } }),
          );
          const env2: Env = { ...env, dir: dir2 };
          const list = await cli(env2, ["component", "list", "--json"]);
          assert.equal(list.code, 0, list.stderr);
          const hello = (JSON.parse(list.stdout) as { name: string; source?: string }[])
            .find((c) => c.name === "hello");
          assert.equal(hello?.source, spec);
          const run = await cli(env2, ["run", "pipeline.ts", "--quiet"]);
          assert.equal(run.code, 0, run.stderr + run.stdout);
          assert.equal(await Deno.readTextFile(`${dir2}/.flowyml/hello/HELLO`), "1.0.0");
          const rec = JSON.parse(await Deno.readTextFile(`${dir2}/flowyml.lock`)).components[0];
          assert.equal(rec.source, spec);
          assert.equal(rec.integrity, pinned);
        },
      );

      await t.step("a load without an exact version is refused, naming one", async () => {
        for (const loose of [`npm:${PKG}`, `npm:${PKG}@^1.0.0`, `npm:${PKG}@latest`]) {
          const r = await cli(env, ["component", "load", loose]);
          assert.equal(r.code, 1, r.stdout);
          assert.ok(
            r.stderr.includes(`${loose} does not name an exact version, so it cannot be pinned`),
            r.stderr,
          );
          assert.ok(
            r.stderr.includes(
              `flowyml component load npm:${PKG}@1.0.1\` (1.0.1 is the registry's latest)`,
            ),
            r.stderr,
          );
        }
        const lock = JSON.parse(await Deno.readTextFile(`${dir}/flowyml.lock`));
        assert.deepEqual(lock.components.map((c: { source: string }) => c.source), [spec]);
      });

      await t.step("1.0.0 republished with other content is refused", async () => {
        const un = await new Deno.Command("npm", {
          args: [
            "unpublish",
            `${PKG}@1.0.0`,
            "--force",
            "--registry",
            registry.url,
            "--userconfig",
            registry.npmrc,
          ],
          env: { npm_config_cache: `${registry.dir}/npm-cache` },
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.ok(un.success, dec.decode(un.stderr));
        await writePackage(`${tmp.path}/pkg-evil`, "1.0.0", "// changed after it was pinned\n");
        await registry.publish(`${tmp.path}/pkg-evil`, { tag: "republished" });
        const r = await cli(env, ["component", "list"]);
        assert.equal(r.code, 1, r.stdout);
        assert.match(
          r.stderr,
          /refusing to load npm:flowyml-hello-store@1\.0\.0: its content changed/,
        );
        assert.ok(r.stderr.includes(`pinned:  ${pinned}`), r.stderr);
        assert.match(r.stderr, /now: {5}sha512-/);
        assert.ok(!r.stderr.includes(`now:     ${pinned}`), r.stderr);
      });
    } finally {
      await registry.stop();
      await tmp.cleanup();
      // Deno installed the package into flowyml's node_modules (nodeModulesDir: auto); the next
      // run must download it from its own registry again.
      await Deno.remove(`${ROOT}node_modules/${PKG}`).catch(() => {});
      for await (const e of Deno.readDir(`${ROOT}node_modules/.deno`)) {
        if (e.name.startsWith(`${PKG}@`)) {
          await Deno.remove(`${ROOT}node_modules/.deno/${e.name}`, { recursive: true });
        }
      }
    }
  },
});
