/**
 * Modules flowyml loads on demand (kernel/lazy_import.ts) stay out of the
 * module graph of `import "flowyml"`, are all listed in plugins/lazy_graph.ts,
 * and load in a process without read permission when that list is imported.
 */
import assert from "node:assert/strict";
import { LAZY_MODULES } from "../../plugins/lazy_graph.ts";

const ROOT = new URL("../../", import.meta.url);

/** Every `lazyImport(new URL("…", import.meta.url))` target in flowyml's sources, repo-relative. */
async function lazyTargets(): Promise<string[]> {
  const out = new Set<string>();
  const files = ["mod.ts", "kernel/sandbox/plugin_step.ts", "plugins/builtin_types.ts"];
  for await (const d of Deno.readDir(new URL("plugins/", ROOT))) {
    if (d.isDirectory) files.push(`plugins/${d.name}/register.ts`);
  }
  for (const f of files) {
    const text = await Deno.readTextFile(new URL(f, ROOT)).catch(() => "");
    for (
      const m of text.matchAll(
        /lazyImport(?:<typeof import\("[^"]+"\)>)?\(\s*new URL\("([^"]+)", import\.meta\.url\)/g,
      )
    ) {
      out.add(new URL(m[1], new URL(f, ROOT)).href.slice(ROOT.href.length));
    }
  }
  return [...out].sort();
}

Deno.test("lazy imports: plugins/lazy_graph.ts lists every module flowyml loads on demand", async () => {
  const targets = await lazyTargets();
  assert.ok(targets.length > 20, `found the lazy imports (${targets.length})`);
  const listed = Object.keys(LAZY_MODULES)
    .map((s) => new URL(s, new URL("plugins/", ROOT)).href.slice(ROOT.href.length)).sort();
  assert.deepEqual(listed, targets, "add the missing modules to plugins/lazy_graph.ts");
});

/** Run `body` as a module in a process with no permissions at all; its stdout and stderr. */
async function runWithoutPermissions(body: string, flags: string[] = []) {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/main.ts`, body);
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        ...flags,
        "--config",
        new URL("deno.json", ROOT).pathname,
        "main.ts",
      ],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const text = (b: Uint8Array) => new TextDecoder().decode(b);
    return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const PROBE = `
const reg = getComponentRegistry();
try {
  const schema = await reg.schemaOf("artifact_store", "gcs");
  const cls = await reg.get("orchestrator", "container");
  console.log("loaded", typeof schema?.safeParse, cls.name);
} catch (err) {
  console.log("refused", err.message);
}
`;

Deno.test("lazy imports: with flowyml/lazy_graph a process without permissions loads them; without, the error names the flag", async () => {
  const mod = new URL("mod.ts", ROOT).href;
  const graph = new URL("plugins/lazy_graph.ts", ROOT).href;
  const withGraph = await runWithoutPermissions(
    `import { getComponentRegistry } from "${mod}";\nimport "${graph}";\n${PROBE}`,
  );
  assert.equal(withGraph.code, 0, withGraph.stderr);
  assert.match(withGraph.stdout, /^loaded function ContainerOrchestrator$/m);
  const without = await runWithoutPermissions(
    `import { getComponentRegistry } from "${mod}";\n${PROBE}`,
  );
  assert.equal(without.code, 0, without.stderr);
  assert.match(without.stdout, /refused .*cannot load flowyml's module .*gcs\/config\.ts/);
  // The flag named is flowyml's folder (a module's imports reach its other folders), and it works.
  const flag = /run with (--allow-read=\S+), or import "flowyml\/lazy_graph"/.exec(without.stdout);
  assert.ok(flag, without.stdout);
  assert.equal(flag[1], `--allow-read=${new URL(".", ROOT).pathname.replace(/\/$/, "")}`);
  const granted = await runWithoutPermissions(
    `import { getComponentRegistry } from "${mod}";\n${PROBE}`,
    [flag[1]],
  );
  assert.match(granted.stdout, /^loaded function ContainerOrchestrator$/m, granted.stdout);
});
