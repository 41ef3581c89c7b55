/**
 * The CLI's in-process fallback (it may not start deno) with a WASM plugin step: the note and
 * the step's error name the exact `--allow-run=<deno>` flag; with that flag the WASM step runs in
 * the CLI's own process (`--inherit-permissions`), its plugin in a host process of its own.
 */
import assert from "node:assert/strict";
import { tempDir } from "../_helpers.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const DENO = Deno.execPath();

const YAML = `plugins:
  normalize:
    source: ./normalize.wasm
    sha256: 523ada0a3581c3e6f1b05f9700cf58bdc0e3cd0ec5f15130c89afd490d4e6158
    op: normalize
    grants:
      artifacts: { read: [], write: [] }
`;

const PIPELINE = `import { Pipeline, pluginStep, step } from "flowyml";
const col = step({ name: "col", outputs: ["xs"] }, () => new Float64Array([1, 2, 3, 5]));
const scale = pluginStep("normalize", {
  name: "wasm_minmax",
  inputs: ["xs"],
  outputs: ["ys"],
  config: { mode: "minmax" },
});
export default new Pipeline("wasm_here").add(col).add(scale);
`;

async function cli(cwd: string, flags: string[], args: string[]) {
  const out = await new Deno.Command(DENO, {
    args: ["run", ...flags, `--config=${ROOT}deno.json`, `${ROOT}cli/main.ts`, ...args],
    cwd,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A project outside the repo: the normalize plugin, its flowyml.yaml and the pipeline. */
async function wasmProject(prefix: string) {
  const dir = await tempDir(prefix);
  await Deno.copyFile(
    `${ROOT}examples/plugins/normalize/normalize.wasm`,
    `${dir.path}/normalize.wasm`,
  );
  await Deno.writeTextFile(`${dir.path}/flowyml.yaml`, YAML);
  await Deno.writeTextFile(`${dir.path}/pipeline.ts`, PIPELINE);
  return dir;
}

Deno.test("in-process fallback: WASM steps run with --allow-run=<deno>, else the flag is named", async () => {
  const dir = await wasmProject("flowyml-wasm-here-");
  try {
    const base = ["--allow-read", "--allow-write=./.flowyml", "--allow-env"];
    const flag = `--allow-run=${DENO}`;

    const refused = await cli(dir.path, base, ["run", "pipeline.ts"]);
    assert.equal(refused.code, 1, refused.stdout);
    assert.ok(refused.stderr.includes(`note: running in this process`), refused.stderr);
    assert.ok(refused.stderr.includes(`start flowyml with ${flag}`), refused.stderr);
    assert.ok(refused.stdout.includes(`fix: run again with ${flag}`), refused.stdout);
    assert.doesNotMatch(refused.stdout + refused.stderr, /Can't escalate parent thread/);

    const here = await cli(dir.path, [...base, flag], [
      "run",
      "--inherit-permissions",
      "--json",
      "pipeline.ts",
    ]);
    assert.equal(here.code, 0, here.stderr);
    const result = JSON.parse(here.stdout);
    assert.equal(result.status, "completed");
    assert.equal(result.steps.wasm_minmax.status, "completed");
  } finally {
    await dir.cleanup();
  }
});

Deno.test("a script run directly without --allow-run: its WASM step's error names --allow-run=<deno>", async () => {
  const dir = await wasmProject("flowyml-wasm-direct-");
  try {
    await Deno.writeTextFile(
      `${dir.path}/main.ts`,
      `import p from "./pipeline.ts";
const r = await p.run();
console.log(JSON.stringify({ status: r.status, error: String(r.error) }));
`,
    );
    const out = await new Deno.Command(DENO, {
      args: [
        "run",
        "--allow-read",
        "--allow-write=./.flowyml",
        "--allow-env",
        "--config",
        `${ROOT}deno.json`,
        "main.ts",
      ],
      cwd: dir.path,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const r = JSON.parse(text);
    assert.equal(r.status, "failed");
    assert.match(r.error, /WASM plugin .*refused: Deno permission missing/);
    assert.ok(r.error.includes(`--allow-run=${DENO}`), r.error);
  } finally {
    await dir.cleanup();
  }
});
