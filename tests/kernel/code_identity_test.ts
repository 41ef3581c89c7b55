/**
 * Issue 10, case 3: editing a helper module the steps import re-runs exactly
 * the steps defined in modules that depend on it (directly or transitively);
 * a step in a module that does not import it stays a cache hit.
 */
import assert from "node:assert/strict";
import { tempDir } from "../_helpers.ts";
import { flowyml, showRun } from "./_cli.ts";
import { callerModule, moduleClosureHash, stackModuleUrls } from "../../kernel/code_identity.ts";
import { pathToFileURL as toFileUrl } from "node:url";

const FILES: Record<string, string> = {
  "ml.ts": `export function scale(x: number): number { return x * 2; }\n`,
  // features imports ml.ts directly; train through lib/model.ts; stamp not at all.
  "features.ts": `import { step } from "flowyml";
import { scale } from "./ml.ts";
export const features = step({ name: "features", outputs: ["feats"] }, () => [1, 2, 3].map(scale));
`,
  "lib/model.ts": `export { scale as weight } from "../ml.ts";\n`,
  "train.ts": `import { step } from "flowyml";
import { weight } from "./lib/model.ts";
export const train = step({ name: "train", outputs: ["model"] }, () => ({ w: weight(1) }));
`,
  "stamp.ts": `import { step } from "flowyml";
export const stamp = step({ name: "stamp", outputs: ["stamp"] }, () => "v1");
`,
  "pipeline.ts": `import { Pipeline } from "flowyml";
import { features } from "./features.ts";
import { train } from "./train.ts";
import { stamp } from "./stamp.ts";
export default new Pipeline("identity").add(features).add(train).add(stamp);
`,
};

function runIdOf(stdout: string): string {
  return /run\s+(identity-\S+)/.exec(stdout)![1];
}

Deno.test("code identity (CLI): editing ml.ts re-runs exactly the steps whose modules import it", async () => {
  const t = await tempDir();
  try {
    await Deno.mkdir(`${t.path}/lib`);
    for (const [f, text] of Object.entries(FILES)) await Deno.writeTextFile(`${t.path}/${f}`, text);
    const r1 = await flowyml(t.path, ["run", "pipeline.ts"]);
    assert.equal(r1.code, 0, r1.stderr + r1.stdout);
    const r2 = await flowyml(t.path, ["run", "pipeline.ts"]);
    assert.match(r2.stdout, /steps\s+3 \(3 cache hits\)/, r2.stdout);
    // Edit a function in ml.ts.
    await Deno.writeTextFile(
      `${t.path}/ml.ts`,
      `export function scale(x: number): number { return x * 3; }\n`,
    );
    const r3 = await flowyml(t.path, ["run", "pipeline.ts"]);
    assert.equal(r3.code, 0, r3.stderr + r3.stdout);
    const steps = Object.fromEntries(
      (await showRun(t.path, runIdOf(r3.stdout))).steps.map((s) => [s.step, s]),
    );
    assert.equal(steps.features.cached, false, "features imports ml.ts: re-run");
    assert.equal(steps.train.cached, false, "train imports ml.ts through lib/model.ts: re-run");
    assert.equal(steps.stamp.cached, true, "stamp does not import ml.ts: still a cache hit");
    assert.equal(steps.features.status, "completed");
  } finally {
    await t.cleanup();
  }
});

Deno.test("code identity: the closure covers import/export-from, dynamic imports and JSON; not flowyml", async () => {
  const t = await tempDir();
  try {
    const root = `file://${t.path}/main.ts`;
    await Deno.writeTextFile(
      `${t.path}/main.ts`,
      `import "flowyml";\nexport * from "./a.ts";\nconst b = await import("./b.ts");\n` +
        `import data from "./data.json" with { type: "json" };\nimport "npm:zod@3.23.8";\n`,
    );
    await Deno.writeTextFile(`${t.path}/a.ts`, `export const a = 1;\n`);
    await Deno.writeTextFile(`${t.path}/b.ts`, `export const b = 1;\n`);
    await Deno.writeTextFile(`${t.path}/data.json`, `{"x": 1}`);
    const h0 = await moduleClosureHash(root);
    assert.equal(await moduleClosureHash(root), h0, "stable");
    for (
      const [f, text] of [["a.ts", "export const a = 2;\n"], ["b.ts", "export const b = 2;\n"], [
        "data.json",
        `{"x": 2}`,
      ]]
    ) {
      const before = await moduleClosureHash(root);
      await Deno.writeTextFile(`${t.path}/${f}`, text);
      assert.notEqual(await moduleClosureHash(root), before, `${f} is covered`);
    }
    const before = await moduleClosureHash(root);
    await Deno.writeTextFile(
      `${t.path}/main.ts`,
      (await Deno.readTextFile(`${t.path}/main.ts`)).replace("zod@3.23.8", "zod@3.23.7"),
    );
    assert.notEqual(await moduleClosureHash(root), before, "npm: modules enter by version");
  } finally {
    await t.cleanup();
  }
});

Deno.test("code identity: a step's module is the URL of the module that called step(), not flowyml's", async () => {
  const t = await tempDir();
  try {
    // A folder with a space: the URL is percent-encoded, as the module's own import.meta.url.
    const dir = `${t.path}/my steps`;
    await Deno.mkdir(dir);
    const mod = `${dir}/defs.ts`;
    const flowyml = new URL("../../mod.ts", import.meta.url).href;
    await Deno.writeTextFile(
      mod,
      `import { step } from "${flowyml}";\n` +
        `export const direct = step({ name: "a", outputs: ["x"] }, () => 1);\n` +
        `function make() { return step({ name: "b", outputs: ["y"] }, () => 2); }\n` +
        `export const nested = make();\n` +
        `export const evaluated = eval("make()");\n` +
        `export const url = import.meta.url;\n`,
    );
    const m = await import(toFileUrl(mod).href);
    assert.match(m.url, /my%20steps\/defs\.ts$/);
    assert.equal(m.direct.module, m.url);
    assert.equal(m.nested.module, m.url, "a helper in the same module");
    assert.equal(m.evaluated.module, m.url, "eval'd code: the module that ran it");
    assert.equal(callerModule(), import.meta.url, "called from this test module");
  } finally {
    await t.cleanup();
  }
});

Deno.test("code identity: stack frames give module URLs spelled as import.meta.url", () => {
  // Deno prints an imported module's path decoded; the entry module's, encoded.
  const stack = [
    "Error: x",
    "    at step (file:///work/flowyml/kernel/step.ts:63:13)",
    "    at file:///tmp/my steps/defs.ts:2:23",
    "    at async load (file:///tmp/my%20steps/main.ts:5:1)",
    "    at eval (eval at <anonymous> (https://example.com/lib/mod.ts:1:1), <anonymous>:1:1)",
  ].join("\n");
  assert.deepEqual(stackModuleUrls(stack), [
    "file:///work/flowyml/kernel/step.ts",
    "file:///tmp/my%20steps/defs.ts",
    "file:///tmp/my%20steps/main.ts",
    "https://example.com/lib/mod.ts",
  ]);
});
