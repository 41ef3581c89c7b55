/**
 * Plugins declared once in the project's deno.json or package.json
 * (`"flowyml": { "plugins": [...] }`, the Deno form of entry points) are available to
 * `component list`, `flowyml run` (least-privilege child) and a plain script's `Pipeline.run()`
 * with no `component load`; the first use pins them in flowyml.lock, and a changed module is
 * refused until `flowyml component update`.
 */
import assert from "node:assert/strict";
import { flowyml } from "../kernel/_cli.ts";
import { exists, plainScript, pluginProject } from "./_project.ts";

const PIPELINE = `import { Pipeline, step } from "flowyml";
const hello = step({ name: "hello", outputs: ["msg"] }, () => "hi");
export default new Pipeline("declared").add(hello);
`;

const DECLARE = { flowyml: { plugins: ["./local_plugin.ts"] } };

interface Locked {
  source: string;
  integrity: string;
  entries: { kind: string; type: string }[];
}

async function lockOf(dir: string): Promise<Locked[]> {
  return JSON.parse(await Deno.readTextFile(`${dir}/flowyml.lock`)).components;
}

Deno.test("declared in deno.json: listed, run by the CLI and by Pipeline.run(), pinned", async () => {
  const dir = await pluginProject("flowyml-declared-");
  try {
    await Deno.writeTextFile(`${dir.path}/deno.json`, JSON.stringify(DECLARE, null, 2));
    await Deno.writeTextFile(`${dir.path}/pipeline.ts`, PIPELINE);

    const list = await flowyml(`${dir.path}/src`, ["component", "list", "--json"]);
    assert.equal(list.code, 0, list.stderr);
    const tagged =
      (JSON.parse(list.stdout) as { name: string; source?: string; integrity?: string }[])
        .find((c) => c.name === "tagged");
    assert.equal(tagged?.source, "./local_plugin.ts");
    assert.match(tagged?.integrity ?? "", /^sha256-/);
    const [rec] = await lockOf(dir.path);
    assert.equal(rec.source, "./local_plugin.ts");
    assert.equal(rec.integrity, tagged?.integrity, "first use pinned it in flowyml.lock");
    assert.deepEqual(rec.entries.map((e) => `${e.kind}:${e.type}`), ["artifact_store:tagged"]);

    const run = await flowyml(dir.path, ["run", "--json", "pipeline.ts"]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(JSON.parse(run.stdout).status, "completed");
    assert.equal(await Deno.readTextFile(`${dir.path}/art/TAG`), "v1");

    const script = await plainScript(dir.path);
    assert.equal(script.code, 0, script.stderr);
    assert.match(script.stdout, /"status":"completed"/);
    assert.equal((await lockOf(dir.path)).length, 1, "pinned once");
  } finally {
    await dir.cleanup();
  }
});

Deno.test("declared plugin: first use by flowyml run pins it; a change is refused until update", async () => {
  const dir = await pluginProject("flowyml-declared-");
  try {
    await Deno.writeTextFile(`${dir.path}/deno.json`, JSON.stringify(DECLARE));
    await Deno.writeTextFile(`${dir.path}/pipeline.ts`, PIPELINE);
    const first = await flowyml(dir.path, ["run", "--quiet", "pipeline.ts"]);
    assert.equal(first.code, 0, first.stderr);
    const [rec] = await lockOf(dir.path);
    assert.equal(rec.source, "./local_plugin.ts");
    assert.match(rec.integrity, /^sha256-/);

    await Deno.writeTextFile(`${dir.path}/tag.ts`, `export const TAG = "v2";\n`);
    await Deno.remove(`${dir.path}/art`, { recursive: true });
    for (const args of [["run", "pipeline.ts"], ["component", "list"]]) {
      const r = await flowyml(dir.path, args);
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stderr, /refusing to load \.\/local_plugin\.ts: its content changed/);
      assert.match(r.stderr, /flowyml component update/);
    }
    const script = await plainScript(dir.path);
    assert.notEqual(script.code, 0);
    assert.match(script.stderr, /refusing to load \.\/local_plugin\.ts/);
    assert.ok(!(await exists(`${dir.path}/art/TAG`)), "the changed module never ran");

    const up = await flowyml(dir.path, ["component", "update", "./local_plugin.ts"]);
    assert.equal(up.code, 0, up.stderr);
    const again = await flowyml(dir.path, ["run", "--quiet", "pipeline.ts"]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(await Deno.readTextFile(`${dir.path}/art/TAG`), "v2");
  } finally {
    await dir.cleanup();
  }
});

Deno.test("declared in package.json works the same; a malformed list is an error naming the file", async () => {
  const dir = await pluginProject("flowyml-declared-");
  try {
    await Deno.writeTextFile(
      `${dir.path}/package.json`,
      JSON.stringify({ name: "my-ml", private: true, ...DECLARE }),
    );
    const list = await flowyml(dir.path, ["component", "list"]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(
      list.stdout,
      /artifact_store\s+tagged\s+file\s+\S*\s*\.\/local_plugin\.ts\s+sha256-/,
    );

    await Deno.writeTextFile(
      `${dir.path}/package.json`,
      JSON.stringify({ flowyml: { plugins: "x" } }),
    );
    const bad = await flowyml(dir.path, ["component", "list"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /package\.json: "flowyml\.plugins" must be a list of module sources/);
  } finally {
    await dir.cleanup();
  }
});
