/**
 * Issue 10, case 6: `runs resume` keeps the run's own cache setting: a run
 * started with `--no-cache` serves no step from the cache when resumed,
 * unless `--cache` is passed to resume.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { tempDir } from "../_helpers.ts";
import { flowyml, showRun } from "./_cli.ts";

// `b` fails while a file named `fail` exists (runs in this process: --inherit-permissions).
const PIPELINE = `
import { Pipeline, step } from "flowyml";
const a = step({ name: "a", outputs: ["x"] }, () => 1);
const b = step({ name: "b", inputs: ["x"], outputs: ["y"] }, async ({ x }) => {
  if (await Deno.stat("fail").then(() => true, () => false)) throw new Error("b failed on purpose");
  return x + 1;
});
const c = step({ name: "c", inputs: ["y"], outputs: ["z"] }, ({ y }) => y * 10);
export default new Pipeline("resume").add(a).add(b).add(c);
`;

async function failedNoCacheRun(dir: string): Promise<string> {
  await Deno.writeTextFile(`${dir}/fail`, "");
  const r = await flowyml(dir, ["run", "pipeline.ts", "--no-cache", "--inherit-permissions"]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  await Deno.remove(`${dir}/fail`);
  return /run\s+(resume-\S+)/.exec(r.stdout)![1];
}

Deno.test("resume (CLI): a --no-cache run stays uncached when resumed; --cache overrides", async () => {
  const t = await tempDir();
  try {
    await Deno.writeTextFile(`${t.path}/pipeline.ts`, PIPELINE);
    // Fill the cache for every step.
    const warm = await flowyml(t.path, ["run", "pipeline.ts", "--inherit-permissions"]);
    assert.equal(warm.code, 0, warm.stdout + warm.stderr);

    const id = await failedNoCacheRun(t.path);
    assert.equal((await showRun(t.path, id)).run.cache, false, "the run records --no-cache");
    const res = await flowyml(t.path, ["runs", "resume", id, "--quiet"]);
    assert.equal(res.code, 0, res.stdout + res.stderr);
    const shown = await showRun(t.path, id);
    assert.equal(shown.run.status, "completed");
    assert.deepEqual(shown.steps.filter((s) => s.cached).map((s) => s.step), [], "no cache hit");

    const id2 = await failedNoCacheRun(t.path);
    const res2 = await flowyml(t.path, ["runs", "resume", id2, "--quiet", "--cache"]);
    assert.equal(res2.code, 0, res2.stdout + res2.stderr);
    const shown2 = await showRun(t.path, id2);
    assert.deepEqual(
      shown2.steps.filter((s) => s.cached).map((s) => s.step).sort(),
      ["b", "c"],
      "--cache on resume uses the cache",
    );
  } finally {
    await t.cleanup();
  }
});

/** `a` returns `v` and logs each of its runs; `b` fails while a file named `fail` exists. */
const changing = (v: number) => `
import { Pipeline, step } from "flowyml";
const a = step({ name: "a", outputs: ["x"] }, async () => {
  await Deno.writeTextFile("a_ran", "${v}\\n", { append: true });
  return ${v};
});
const b = step({ name: "b", inputs: ["x"], outputs: ["y"] }, async ({ x }) => {
  if (await Deno.stat("fail").then(() => true, () => false)) throw new Error("b failed on purpose");
  await Deno.writeTextFile("y", String(x + 1));
  return x + 1;
});
export default new Pipeline("changing").add(a).add(b);
`;

/** A run of `changing(1)` in `dir` whose `b` failed after `a` completed; returns its id. */
async function failedChangingRun(dir: string): Promise<string> {
  await Deno.writeTextFile(`${dir}/pipeline.ts`, changing(1));
  await Deno.writeTextFile(`${dir}/fail`, "");
  const failed = await flowyml(dir, ["run", "pipeline.ts", "--inherit-permissions"]);
  assert.equal(failed.code, 1, failed.stdout + failed.stderr);
  await Deno.remove(`${dir}/fail`);
  return /run\s+(changing-\S+)/.exec(failed.stdout)![1];
}

Deno.test("resume (CLI): --allow-changed runs a step whose code changed since the crash again", async () => {
  const t = await tempDir();
  try {
    const id = await failedChangingRun(t.path); // `a` completed (x = 1), `b` failed
    // Edit `a` between the crash and the resume: its recorded output is not what it computes now.
    await Deno.writeTextFile(`${t.path}/pipeline.ts`, changing(2));
    const refused = await flowyml(t.path, ["runs", "resume", id, "--quiet"]);
    assert.equal(refused.code, 1, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /changed since run .*--allow-changed/s);
    const res = await flowyml(t.path, ["runs", "resume", id, "--quiet", "--allow-changed"]);
    assert.equal(res.code, 0, res.stdout + res.stderr);
    assert.equal(await Deno.readTextFile(`${t.path}/a_ran`), "1\n2\n", "`a` ran again, new code");
    assert.equal(await Deno.readTextFile(`${t.path}/y`), "3", "`b` got the new `x` (2 + 1)");
    assert.equal((await showRun(t.path, id)).run.status, "completed");
  } finally {
    await t.cleanup();
  }
});

Deno.test("resume (CLI): a completed step whose stored output no longer verifies runs again", async () => {
  const t = await tempDir();
  try {
    const id = await failedChangingRun(t.path); // `a` completed (x = 1), `b` failed
    // `a`'s output (1, stored inline in the metadata store) is edited behind flowyml's back.
    const db = new DatabaseSync(`${t.path}/.flowyml/metadata.db`);
    try {
      assert.equal(db.prepare("UPDATE blobs SET bytes = X'39'").run().changes, 1);
    } finally {
      db.close();
    }
    const res = await flowyml(t.path, ["runs", "resume", id, "--quiet"]);
    assert.equal(res.code, 0, res.stdout + res.stderr);
    assert.equal(await Deno.readTextFile(`${t.path}/a_ran`), "1\n1\n", "`a` ran again");
    assert.equal(await Deno.readTextFile(`${t.path}/y`), "2", "`b` got the recomputed x = 1");
  } finally {
    await t.cleanup();
  }
});
