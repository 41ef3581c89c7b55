/** Test helper: a project outside the repo with a local plugin, run as a user would. */
import { tempDir } from "../_helpers.ts";
import { CONFIG } from "../kernel/_cli.ts";

/** A local store plugin that writes its TAG (from ./tag.ts) beside the artifacts. */
export const PLUGIN = `import { LocalArtifactStore } from "flowyml";
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

/** A plain script: runs a one-step pipeline with Pipeline.run() and prints the result. */
export const SCRIPT = `import { Pipeline, step } from "flowyml";
const hello = step({ name: "hello", outputs: ["msg"] }, () => "hi");
const result = await new Pipeline("plain").add(hello).run();
console.log(JSON.stringify({ status: result.status, msg: result.outputs.msg }));
`;

/** The project's stack: the plugin's store, by default. */
export const YAML = `stacks:
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

/** Whether `p` exists. */
export async function exists(p: string): Promise<boolean> {
  try {
    await Deno.stat(p);
    return true;
  } catch {
    return false;
  }
}
