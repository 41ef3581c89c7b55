import assert from "node:assert/strict";
import { tempDir } from "../_helpers.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test("a script that runs a WASM plugin step exits on its own (host workers closed after the run)", async () => {
  const t = await tempDir();
  try {
    const sha = Array.from(
      new Uint8Array(
        await crypto.subtle.digest(
          "SHA-256",
          await Deno.readFile(`${ROOT}examples/plugins/normalize/normalize.wasm`),
        ),
      ),
      (b) => b.toString(16).padStart(2, "0"),
    ).join("");
    await Deno.writeTextFile(
      `${t.path}/script.ts`,
      `import { LocalArtifactStore, LocalExecutor, LocalOrchestrator, Pipeline, pluginStep,
  SQLiteMetadataStore, Stack, step } from "${ROOT}mod.ts";
import { configurePlugins } from "${ROOT}kernel/sandbox/mod.ts"; // flowyml/sandbox
configurePlugins({ normalize: { source: "${ROOT}examples/plugins/normalize/normalize.wasm", sha256: "${sha}",
  op: "normalize", grants: { memory: "16Mi", timeout: "10s" } } });
const stack = new Stack("s", { orchestrator: new LocalOrchestrator(), executor: new LocalExecutor(),
  artifactStore: new LocalArtifactStore({ path: "${t.path}/a" }),
  metadataStore: new SQLiteMetadataStore({ path: "${t.path}/m.db" }) });
const r = await new Pipeline("exit", { stack })
  .add(step({ name: "mk", outputs: ["raw"] }, () => Float64Array.from([1, 2, 3, 4])))
  .add(pluginStep("normalize", { inputs: ["raw"], outputs: ["features"] }))
  .run();
console.log(r.status, Array.from(r.outputs.features as Float64Array).map((v) => v.toFixed(2)).join(","));
`,
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--config", `${ROOT}deno.json`, `${t.path}/script.ts`],
      env: { FLOWYML_HOME: `${t.path}/home` },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    const out = await child.output();
    clearTimeout(timer);
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(
      out.code,
      0,
      `exited with ${out.code} (killed after 30 s if it hung): ${
        new TextDecoder().decode(out.stderr)
      }`,
    );
    assert.match(stdout, /completed -1\.34,-0\.45,0\.45,1\.34/);
  } finally {
    await t.cleanup();
  }
});
