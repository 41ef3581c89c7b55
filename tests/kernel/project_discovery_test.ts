/**
 * Finding the project from a subfolder: `flowyml.yaml` is found by walking up
 * from the current folder, and the stack's relative paths resolve against that
 * file's folder, so running from `src/` uses the project's stores and never
 * creates a fresh `src/.flowyml`. Through `loadConfig()` and through the CLI
 * as a subprocess.
 */
import assert from "node:assert/strict";
import { configPath, findConfigFile, loadConfig, stackConfig } from "../../mod.ts";
import { tempDir } from "../_helpers.ts";
import { flowyml as cli } from "./_cli.ts";

const YAML = `default_stack: dev
stacks:
  dev:
    artifact_store: { type: local, path: ./data/artifacts }
    metadata_store: { type: sqlite, path: data/metadata.db }
  other:
    artifact_store: { type: s3, bucket: b, endpoint: "http://127.0.0.1:9" }
    metadata_store: { type: sqlite, path: ":memory:" }
`;

const PIPELINE = `
import { Pipeline, step } from "flowyml";
const a = step({ name: "a", outputs: ["x"] }, () => 20);
const b = step({ name: "b", inputs: ["x"], outputs: ["y"] }, ({ x }) => x + 1);
export default new Pipeline("from_subfolder").add(a).add(b);
`;

async function project(): Promise<{ root: string; src: string; cleanup: () => Promise<void> }> {
  const t = await tempDir("flowyml-project-");
  const root = await Deno.realPath(t.path);
  await Deno.writeTextFile(`${root}/flowyml.yaml`, YAML);
  await Deno.writeTextFile(`${root}/pipeline.ts`, PIPELINE);
  await Deno.mkdir(`${root}/src/deep`, { recursive: true });
  return { root, src: `${root}/src`, cleanup: t.cleanup };
}

async function exists(p: string): Promise<boolean> {
  return await Deno.stat(p).then(() => true, () => false);
}

Deno.test("project discovery: loadConfig() from a subfolder finds flowyml.yaml and resolves paths against it", async () => {
  const p = await project();
  const cwd = Deno.cwd();
  const prevEnv = Deno.env.get("FLOWYML_CONFIG");
  Deno.env.delete("FLOWYML_CONFIG");
  try {
    Deno.chdir(`${p.src}/deep`);
    assert.equal(findConfigFile(), `${p.root}/flowyml.yaml`);
    assert.equal(configPath(), `${p.root}/flowyml.yaml`);
    const config = await loadConfig();
    assert.equal(config.path, `${p.root}/flowyml.yaml`);
    assert.equal(config.default_stack, "dev");
    const dev = stackConfig(config, "dev");
    assert.equal(dev.artifact_store?.path, `${p.root}/data/artifacts`);
    assert.equal(dev.metadata_store?.path, `${p.root}/data/metadata.db`);
    // components the stack leaves out, and the embedded local stack, live in the project too
    assert.equal(stackConfig(config, "other").metadata_store?.path, ":memory:");
    assert.equal(stackConfig(config, "other").artifact_store?.endpoint, "http://127.0.0.1:9");
    assert.equal(stackConfig(config, "local").artifact_store?.path, `${p.root}/.flowyml/artifacts`);

    // In the project folder itself nothing changes: paths stay as written.
    Deno.chdir(p.root);
    assert.equal(configPath(), "flowyml.yaml");
    const here = await loadConfig();
    assert.equal(stackConfig(here, "dev").artifact_store?.path, "./data/artifacts");

    // $FLOWYML_CONFIG still wins, and its relative paths resolve against its folder.
    Deno.chdir(p.src);
    Deno.env.set("FLOWYML_CONFIG", "../flowyml.yaml");
    const viaEnv = await loadConfig();
    assert.equal(stackConfig(viaEnv, "dev").metadata_store?.path, "../data/metadata.db");
  } finally {
    Deno.chdir(cwd);
    if (prevEnv === undefined) Deno.env.delete("FLOWYML_CONFIG");
    else Deno.env.set("FLOWYML_CONFIG", prevEnv);
    await p.cleanup();
  }
});

Deno.test("project discovery: no flowyml.yaml up the tree gives the embedded local stack here", async () => {
  const t = await tempDir("flowyml-noproject-");
  const cwd = Deno.cwd();
  try {
    const dir = await Deno.realPath(t.path);
    Deno.chdir(dir);
    assert.equal(findConfigFile(), undefined, "no flowyml.yaml in the temp folder or above it");
    const config = await loadConfig();
    assert.deepEqual(config.stacks, {});
    assert.equal(stackConfig(config, "local").artifact_store?.path, ".flowyml/artifacts");
  } finally {
    Deno.chdir(cwd);
    await t.cleanup();
  }
});

Deno.test("project discovery (CLI): stack list --json and run from src/ use the project's stack", async () => {
  const p = await project();
  try {
    const list = await cli(p.src, ["stack", "list", "--json"]);
    assert.equal(list.code, 0, list.stderr);
    const json = JSON.parse(list.stdout);
    assert.equal(json.config, `${p.root}/flowyml.yaml`);
    assert.deepEqual(json.stacks.map((s: { name: string }) => s.name), ["local", "dev", "other"]);
    assert.deepEqual(json.stacks[1], {
      name: "dev",
      default: true,
      components: {
        orchestrator: "local",
        artifact_store: "local",
        metadata_store: "sqlite",
        executor: "local",
      },
    });

    // A run from src/ (in the least-privilege child) records in the project's database.
    const run = await cli(p.src, ["run", "../pipeline.ts", "--quiet"]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /status completed/);
    assert.ok(await exists(`${p.root}/data/metadata.db`), "the project's database was used");
    // Its (small) outputs are stored inline in that database (docs/artifacts.md).
    const { DatabaseSync } = await import("node:sqlite");
    const db = new DatabaseSync(`${p.root}/data/metadata.db`, { readOnly: true });
    const blobs = Number((db.prepare("SELECT COUNT(*) n FROM blobs").get() as { n: number }).n);
    db.close();
    assert.ok(blobs > 0, "the run's outputs are in the project's database");
    assert.equal(await exists(`${p.src}/.flowyml`), false, "no fresh stack in src/");
    assert.equal(await exists(`${p.src}/data`), false);
    // The second run, from the root, hits the cache the first one filled.
    const again = await cli(p.root, ["run", "pipeline.ts", "--quiet"]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /steps\s+2 \(2 cache hits\)/);
  } finally {
    await p.cleanup();
  }
});

Deno.test("cli: run of a pipeline file that does not exist says so", async () => {
  const p = await project();
  try {
    for (const flags of [[], ["--inherit-permissions"]]) {
      const r = await cli(p.src, ["run", "missing.ts", ...flags]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /pipeline file missing\.ts does not exist/);
      assert.match(r.stderr, new RegExp(`relative paths start from the current folder, ${p.src}`));
      assert.doesNotMatch(r.stderr, /integrity/);
    }
    const dir = await cli(p.root, ["run", "src"]);
    assert.match(dir.stderr, /pipeline file src is a folder, not a module/);
  } finally {
    await p.cleanup();
  }
});

Deno.test("project discovery (CLI): without flowyml.yaml, a parent's .flowyml is named, not silently ignored", async () => {
  const t = await tempDir("flowyml-stray-");
  try {
    const root = await Deno.realPath(t.path);
    await Deno.mkdir(`${root}/.flowyml`);
    await Deno.writeFile(`${root}/.flowyml/metadata.db`, new Uint8Array());
    await Deno.mkdir(`${root}/src`);
    const r = await cli(`${root}/src`, ["stack", "list"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `note: no flowyml.yaml here or above, so the local stack uses ${root}/src/.flowyml; ` +
          `${root}/.flowyml holds another project's runs\\n  fix: run from ${root}, or create ` +
          `${root}/flowyml.yaml`,
      ),
    );
    await Deno.writeTextFile(`${root}/flowyml.yaml`, "");
    const fixed = await cli(`${root}/src`, ["stack", "list", "--json"]);
    assert.equal(fixed.stderr, "");
    assert.equal(JSON.parse(fixed.stdout).config, `${root}/flowyml.yaml`);
  } finally {
    await t.cleanup();
  }
});
