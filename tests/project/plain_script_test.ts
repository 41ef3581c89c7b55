/**
 * `Pipeline.run()` in a plain `deno run` script (no CLI) loads the component modules pinned in
 * the project's `flowyml.lock` and verifies them as the CLI does: a changed module is refused
 * until `flowyml component update`, and an unknown type names flowyml.lock and the command.
 */
import assert from "node:assert/strict";
import { flowyml } from "../kernel/_cli.ts";
import { exists, plainScript, pluginProject } from "./_project.ts";

Deno.test("plain script: Pipeline.run() uses the module pinned in flowyml.lock", async () => {
  const dir = await pluginProject("flowyml-plain-");
  try {
    const load = await flowyml(dir.path, ["component", "load", "./local_plugin.ts"]);
    assert.equal(load.code, 0, load.stderr);
    const r = await plainScript(dir.path);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout.trim().split("\n").at(-1)!), {
      status: "completed",
      msg: "hi",
    });
    assert.equal(await Deno.readTextFile(`${dir.path}/art/TAG`), "v1", "the plugin stored it");
    // From a subfolder as well: the project (and its lockfile) is found walking up.
    const sub = await plainScript(`${dir.path}/src`, "script.ts");
    assert.equal(sub.code, 0, sub.stderr);
  } finally {
    await dir.cleanup();
  }
});

Deno.test("plain script: a changed pinned module is refused until component update", async () => {
  const dir = await pluginProject("flowyml-plain-");
  try {
    assert.equal((await flowyml(dir.path, ["component", "load", "./local_plugin.ts"])).code, 0);
    await Deno.writeTextFile(`${dir.path}/tag.ts`, `export const TAG = "v2";\n`);
    const r = await plainScript(dir.path);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /refusing to load \.\/local_plugin\.ts: its content changed/);
    assert.match(r.stderr, /changed: \.\/tag\.ts/);
    assert.match(r.stderr, /flowyml component update tagged/);
    assert.ok(!(await exists(`${dir.path}/art/TAG`)), "nothing ran");
    const up = await flowyml(dir.path, ["component", "update", "tagged"]);
    assert.equal(up.code, 0, up.stderr);
    const again = await plainScript(dir.path);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(await Deno.readTextFile(`${dir.path}/art/TAG`), "v2");
  } finally {
    await dir.cleanup();
  }
});

Deno.test("plain script: an unknown type names flowyml.lock and the command", async () => {
  const dir = await pluginProject("flowyml-plain-");
  try {
    const r = await plainScript(dir.path);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /unknown artifact_store type "tagged"/);
    assert.match(r.stderr, /pinned in flowyml\.lock: run `flowyml component load <module>`/);
  } finally {
    await dir.cleanup();
  }
});
