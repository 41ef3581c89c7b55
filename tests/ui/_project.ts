/**
 * A temp project for the UI browser tests, filled by real `flowyml run`s: the
 * demo (twice, the second served from the cache; its WASM step writes audit
 * rows), a pipeline with hostile step names and a failing step, and a gated
 * pipeline that stays in flight until the test releases it.
 * @module
 */
const ROOT = new URL("../../", import.meta.url).pathname;
const CONFIG = `${ROOT}deno.json`;
const MAIN = `${ROOT}cli/main.ts`;

/**
 * Text that would run script if it were ever rendered as HTML. `step()` refuses it as a step
 * name, but a store may hold anything (other writers, older versions), so the test also writes
 * a step run under this name through the store's API.
 */
export const HOSTILE_STEP =
  `<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">`;

/** A param value and messages with markup; step() refuses such step names, see addHostileStep. */
const HOSTILE = `
import { Pipeline, step } from "flowyml";
const a = step({ name: "hostile_start", outputs: ["x"] }, (_, ctx) => {
  ctx.log("<b>log line</b> with markup");
  ctx.logMetrics({ ["<img src=x onerror=window.__pwned=3>"]: 1 });
  return { note: "<script>window.__pwned=4</script>", who: ctx.params.who };
});
const boom = step({ name: "boom", inputs: ["x"], outputs: ["y"] }, () => {
  throw new Error("boom <img src=x onerror=window.__pwned=5> on purpose");
});
const after = step({ name: "after_boom", inputs: ["y"], outputs: ["z"] }, ({ y }) => y);
export default new Pipeline("hostile").add(a).add(boom).add(after);
`;

const GATED = `
import { Pipeline, step } from "flowyml";
const first = step({ name: "first", outputs: ["a"], cache: false }, () => 1);
const gate = step({ name: "gate", inputs: ["a"], outputs: ["b"], cache: false }, async ({ a }) => {
  while (true) {
    try { await Deno.stat(".flowyml/release"); return a + 1; } catch { await new Promise((r) => setTimeout(r, 50)); }
  }
});
const last = step({ name: "last", inputs: ["b"], outputs: ["c"], cache: false }, ({ b }) => b * 2);
export default new Pipeline("gated").add(first).add(gate).add(last);
`;

/** Run the CLI in `cwd`. */
export async function flowyml(cwd: string, args: string[]): Promise<{ code: number; out: string }> {
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", CONFIG, MAIN, ...args],
    cwd,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: o.code, out: dec.decode(o.stdout) + dec.decode(o.stderr) };
}

/** Start a CLI command in `cwd` and leave it running. */
export function spawnFlowyml(cwd: string, args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", CONFIG, MAIN, ...args],
    cwd,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Write the demo, hostile and gated pipelines into `dir` and run the first two. */
export async function fillProject(dir: string): Promise<void> {
  for (const f of ["pipeline.ts", "ml.ts"]) {
    await Deno.copyFile(`${ROOT}examples/demo/${f}`, `${dir}/${f}`);
  }
  await Deno.copyFile(`${ROOT}examples/plugins/normalize/normalize.wasm`, `${dir}/normalize.wasm`);
  const yaml = await Deno.readTextFile(`${ROOT}flowyml.yaml`);
  await Deno.writeTextFile(
    `${dir}/flowyml.yaml`,
    yaml.replace("examples/plugins/normalize/normalize.wasm", "normalize.wasm"),
  );
  await Deno.writeTextFile(`${dir}/hostile.ts`, HOSTILE);
  await Deno.writeTextFile(`${dir}/gated.ts`, GATED);
  for (
    const args of [["pipeline.ts", "--param", "epochs=20"], ["pipeline.ts", "--param", "epochs=20"]]
  ) {
    const r = await flowyml(dir, ["run", ...args]);
    if (r.code !== 0) throw new Error(`flowyml run ${args.join(" ")} failed:\n${r.out}`);
  }
  const h = await flowyml(dir, ["run", "hostile.ts", "--param", `who=${HOSTILE_STEP}`]);
  if (h.code === 0) throw new Error(`the hostile pipeline should fail:\n${h.out}`);
}

/** Read a child's stdout until a line matches `re`; returns the match. */
export async function waitForLine(child: Deno.ChildProcess, re: RegExp): Promise<RegExpExecArray> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (true) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`process ended before printing ${re}:\n${text}`);
    text += value;
    const m = re.exec(text);
    if (m) {
      reader.releaseLock();
      return m;
    }
  }
}

/** Record a step run named {@linkcode HOSTILE_STEP} in `runId` of the project's SQLite store. */
export async function addHostileStep(dir: string, runId: string): Promise<void> {
  const { SQLiteMetadataStore } = await import("../../plugins/sqlite/metadata_store.ts");
  const store = new SQLiteMetadataStore({ path: `${dir}/.flowyml/metadata.db` });
  try {
    await store.upsertStepRun({
      runId,
      step: HOSTILE_STEP,
      status: "completed",
      cached: false,
      attempts: 1,
      startedAt: Date.now() - 5,
      endedAt: Date.now(),
      durationMs: 5,
      worker: "<script>window.__pwned=6</script>",
    });
  } finally {
    store.close();
  }
}
