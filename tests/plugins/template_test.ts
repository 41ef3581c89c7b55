/**
 * The component package template in sdk/template-ts: its own tests pass, and
 * `flowyml component load` of its mod.ts registers the component. The copy's
 * `flowyml` import points at this checkout instead of JSR (unreachable here).
 */
import assert from "node:assert/strict";
import { tempDir } from "../_helpers.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const dec = new TextDecoder();

Deno.test("sdk/template-ts: tests pass and the module loads as a plugin", async () => {
  const t = await tempDir("flowyml-template-");
  try {
    const pkg = `${t.path}/pkg`;
    await Deno.mkdir(`${pkg}/tests`, { recursive: true });
    for (
      const f of [
        "mod.ts",
        "hello_store.ts",
        "simple_store.ts",
        "README.md",
        "tests/hello_store_test.ts",
        "tests/simple_store_test.ts",
      ]
    ) {
      await Deno.copyFile(`${ROOT}sdk/template-ts/${f}`, `${pkg}/${f}`);
    }
    const cfg = JSON.parse(
      await Deno.readTextFile(`${ROOT}sdk/template-ts/deno.json`),
    );
    assert.equal(cfg.exports["."], "./mod.ts");
    assert.ok(
      cfg.name && cfg.version && cfg.publish?.include?.includes("mod.ts"),
    );
    cfg.imports.flowyml = `${ROOT}mod.ts`;
    cfg.nodeModulesDir = "none";
    await Deno.writeTextFile(`${pkg}/deno.json`, JSON.stringify(cfg));
    const test = await new Deno.Command(Deno.execPath(), {
      args: [
        "test",
        "--allow-read",
        `--allow-write=${t.path},/tmp`,
        "--no-lock",
        "tests/",
      ],
      cwd: pkg,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(
      test.code,
      0,
      dec.decode(test.stdout) + dec.decode(test.stderr),
    );
    assert.match(dec.decode(test.stdout), /2 passed/);

    const proj = `${t.path}/proj`;
    await Deno.mkdir(proj);
    const cli = (args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--no-lock",
          `--config=${ROOT}deno.json`,
          `${ROOT}cli/main.ts`,
          ...args,
        ],
        cwd: proj,
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
    const load = await cli(["component", "load", `${pkg}/mod.ts`]);
    assert.equal(load.code, 0, dec.decode(load.stderr));
    assert.match(
      dec.decode(load.stdout),
      /loaded artifact_store "hello" 0\.1\.0 .*\(file\)/,
    );
    assert.match(
      dec.decode(load.stdout),
      /loaded artifact_store "simple" 0\.1\.0 .*\(file\)/,
    );
    const show = await cli([
      "component",
      "show",
      "hello",
      "--option",
      "namespace=ns",
    ]);
    assert.equal(show.code, 0, dec.decode(show.stderr));
    assert.match(dec.decode(show.stdout), /"namespace"/);
    assert.match(dec.decode(show.stdout), /validate\(\): ok/);
  } finally {
    await t.cleanup();
  }
});
