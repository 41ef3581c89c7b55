/**
 * `Pipeline.run()` in a plain `deno run` script (no CLI) loads the component modules pinned in
 * the project's `flowyml.lock` and verifies them as the CLI does: a changed module is refused
 * until `flowyml component update`, and an unknown type names flowyml.lock and the command.
 */
import assert from "node:assert/strict";
import { tempDir } from "../_helpers.ts";
import { CONFIG, flowyml } from "../kernel/_cli.ts";

const PLUGIN = `import { LocalArtifactStore } from "flowyml";
import { TAG } from "./tag.ts";
/** A local store that also writes which plugin version wrote last. */
export class TaggedArtifactStore extends LocalArtifactStore {
  static override readonly type = "tagged";
  override async writeBytes(path: string, data: Uint8Array): Promise<void> {
    await Deno.mkdir(this.root, { recursive: true });
    await Deno.writeTextFile(this.root + "/TAG", TAG);
    return await super.writeBytes(path, data);
  }
}
export const components = [TaggedArtifactStore];
`;

const SCRIPT = `import { Pipeline, step } from "flowyml";
const hello = step({ name: "hello", outputs: ["msg"] }, () => "hi");
const result = await new Pipeline("plain").add(hello).run();
console.log(JSON.stringify({ status: result.status, msg: result.outputs.msg }));
`;

const YAML = `stacks:
  tagged:
    artifact_store: { type: tagged, path: ./art }
default_stack: tagged
`;

/** A project outside the repo with the plugin, the script and (from src/) a subfolder. */
export async function pluginProject(prefix: string) {
  const dir = await tempDir(prefix);
  await Deno.writeTextFile(`${dir.path}/flowyml.yaml`, YAML);
  await Deno.writeTextFile(`${dir.path}/local_plugin.ts`, PLUGIN);
  await Deno.writeTextFile(`${dir.path}/tag.ts`, `export const TAG = "v1";\n`);
  await Deno.mkdir(`${dir.path}/src`);
  await Deno.writeTextFile(`${dir.path}/src/script.ts`, SCRIPT);
  return dir;
}

/** `deno run -A --config <repo deno.json> src/script.ts` in `cwd`: a plain script, no CLI. */
export async function plainScript(cwd: string, script = "src/script.ts") {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", CONFIG, script],
    cwd,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

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

async function exists(p: string): Promise<boolean> {
  try {
    await Deno.stat(p);
    return true;
  } catch {
    return false;
  }
}
