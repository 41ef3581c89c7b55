/**
 * A fresh checkout (no node_modules yet) runs `deno task demo` without Deno's "Ignored build
 * scripts … Run deno approve-scripts" box: deno.json denies msgpackr-extract's optional native
 * build (msgpackr then uses its pure-JS path), so there is nothing to approve.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "../_helpers.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const COPY = [
  "deno.json",
  "deno.lock",
  "mod.ts",
  "flowyml.yaml",
  "cli",
  "kernel",
  "plugins",
  "sdk",
];

async function copyTree(from: string, to: string): Promise<void> {
  const st = await Deno.stat(from);
  if (st.isFile) return await Deno.copyFile(from, to);
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.name === "node_modules" || e.name === ".flowyml") continue;
    await copyTree(join(from, e.name), join(to, e.name));
  }
}

Deno.test("deno task demo in a fresh checkout prints no build-script box", async () => {
  const dir = await tempDir("flowyml-checkout-");
  try {
    for (const p of [...COPY, "examples"]) await copyTree(join(ROOT, p), join(dir.path, p));
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["task", "demo"],
      cwd: dir.path,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    assert.match(stderr, /Initialize/, "node_modules was set up fresh by this run");
    assert.doesNotMatch(stderr, /Ignored build scripts|approve-scripts/, stderr);
    const extract = join(dir.path, "node_modules/.deno/msgpackr-extract@3.0.7");
    assert.ok(!(await exists(join(extract, ".scripts-warned"))), "Deno did not warn");
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
