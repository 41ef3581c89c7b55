/**
 * A new user's project with its own `deno.json`: a pipeline that imports a
 * local module and an npm package through the project's import map, run with
 * `flowyml run` (the CLI from flowyml's folder, started as the README says).
 * The least-privilege child resolves them with the project's map
 * (cli/project_imports.ts) and runs under a frozen lockfile that pins the
 * pipeline's own npm package (cli/pipeline_packages.ts); the in-process mode,
 * which cannot change its import map, says so and what to do.
 */
import assert from "node:assert/strict";
import { tempDir } from "../_helpers.ts";
import { flowyml } from "../kernel/_cli.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** `zod@^4.0.0`: a range flowyml's deno.lock does not pin under that specifier (it pins 4.6.7). */
const PROJECT = {
  "deno.json": JSON.stringify({
    imports: { flowyml: `${ROOT}mod.ts`, mylib: "./lib/mylib.ts", z4: "npm:zod@^4.0.0" },
  }),
  "lib/mylib.ts": "export const base = 41;\n",
  "pipeline.ts": `import { Pipeline, step } from "flowyml";
import { base } from "mylib";
import { z } from "z4";
const n = z.number().int();
export default new Pipeline("mapped").add(step({ name: "a", outputs: ["x"] }, () => n.parse(base + 1)));
`,
};

async function project() {
  const t = await tempDir("flowyml-imports-");
  for (const [name, text] of Object.entries(PROJECT)) {
    await Deno.mkdir(`${t.path}/${name}`.replace(/\/[^/]+$/, ""), { recursive: true });
    await Deno.writeTextFile(`${t.path}/${name}`, text);
  }
  return t;
}

Deno.test("project imports: flowyml run's child resolves the project's deno.json map and pins its npm package", async () => {
  const t = await project();
  try {
    const r = await flowyml(t.path, ["run", "pipeline.ts", "--json"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result.status, "completed");
    const json42 = await crypto.subtle.digest("SHA-256", new TextEncoder().encode("42"));
    const hex = [...new Uint8Array(json42)].map((b) => b.toString(16).padStart(2, "0")).join("");
    assert.equal(result.steps.a.outputs.x.hash, hex, "x = 41 + 1, from mylib through the map");
    assert.doesNotMatch(
      r.stderr,
      /cannot read .* to hash it/,
      "an npm package's version is its identity",
    );
    const locks = [...Deno.readDirSync(`${t.path}/.flowyml/locks`)].map((e) => e.name);
    assert.equal(locks.length, 1, locks.join(", "));
    const lock = JSON.parse(await Deno.readTextFile(`${t.path}/.flowyml/locks/${locks[0]}`));
    // Deno writes the range `^4.0.0` as `npm:zod@4`; flowyml's own lock pins only `npm:zod@4.6.7`.
    const ranges = Object.keys(lock.specifiers).filter((k) => /^npm:zod@/.test(k));
    assert.ok(ranges.some((k) => k !== "npm:zod@4.6.7"), `pinned: ${ranges.join(", ")}`);
    // Again: the pinned lockfile is reused as it is, and the step is a cache hit.
    const again = await flowyml(t.path, ["run", "pipeline.ts", "--json"]);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.equal(JSON.parse(again.stdout).steps.a.cached, true);
    assert.equal([...Deno.readDirSync(`${t.path}/.flowyml/locks`)].length, 1);
  } finally {
    await t.cleanup();
  }
});

Deno.test("project imports: in the CLI's own process, an unmapped import names the project's deno.json and the fix", async () => {
  const t = await project();
  try {
    const r = await flowyml(t.path, ["run", "pipeline.ts", "--inherit-permissions"]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /could not import pipeline module pipeline\.ts/);
    assert.match(r.stderr, /deno\.json maps the project's imports.*without --inherit-permissions/s);
  } finally {
    await t.cleanup();
  }
});
