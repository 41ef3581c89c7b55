/**
 * Architecture rules, checked on the real module graph (`deno info --json`):
 * no import cycles among our modules, `kernel/` imports nothing from
 * `plugins/` or `cli/`, source modules stay under 500 lines, no function
 * over 80 lines, `cli/` reaches plugins only through the registry and the
 * command hooks, `plugins/` never imports `cli/`, and `mod.ts` loads
 * no cloud SDK.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
const ROOT_PATH = ROOT.pathname;

interface InfoModule {
  specifier: string;
  dependencies?: {
    specifier: string;
    code?: { specifier: string };
    type?: { specifier: string };
  }[];
}

async function graph(entries: string[]): Promise<Map<string, string[]>> {
  const edges = new Map<string, string[]>();
  for (const entry of entries) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", entry],
      cwd: ROOT_PATH,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const info = JSON.parse(new TextDecoder().decode(out.stdout)) as { modules: InfoModule[] };
    for (const m of info.modules) {
      if (!m.specifier.startsWith(ROOT.href) || m.specifier.includes("/node_modules/")) continue;
      const deps = (m.dependencies ?? []).flatMap((d) => [d.code?.specifier, d.type?.specifier])
        .filter((s): s is string => !!s && s.startsWith(ROOT.href));
      edges.set(m.specifier.slice(ROOT.href.length), deps.map((d) => d.slice(ROOT.href.length)));
    }
  }
  return edges;
}

function findCycle(edges: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (n: string): string[] | undefined => {
    state.set(n, 1);
    stack.push(n);
    for (const d of edges.get(n) ?? []) {
      if (state.get(d) === 1) return [...stack.slice(stack.indexOf(d)), d];
      if (!state.has(d)) {
        const c = visit(d);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(n, 2);
    return undefined;
  };
  for (const n of edges.keys()) {
    if (!state.has(n)) {
      const c = visit(n);
      if (c) return c;
    }
  }
  return undefined;
}

Deno.test("architecture: no import cycles; kernel/ never imports plugins/ or cli/", async () => {
  const edges = await graph([
    "mod.ts",
    "cli/main.ts",
    // entry points started by path, and every module loaded on demand (by URL)
    "cli/run_main.ts",
    "cli/child_main.ts",
    "cli/worker_main.ts",
    "cli/plan_main.ts",
    "plugins/lazy_graph.ts",
  ]);
  assert.ok(edges.size > 20, `module graph read (${edges.size} modules)`);
  const cycle = findCycle(edges);
  assert.equal(cycle, undefined, `import cycle: ${cycle?.join(" → ")}`);
  for (const [m, deps] of edges) {
    if (!m.startsWith("kernel/")) continue;
    const bad = deps.filter((d) => d.startsWith("plugins/") || d.startsWith("cli/"));
    assert.deepEqual(bad, [], `${m} imports ${bad.join(", ")}`);
  }
});

/** "Well under 600 lines": a module this long is split along a real seam. */
const MAX_MODULE_LINES = 500;

Deno.test(`architecture: source modules stay under ${MAX_MODULE_LINES} lines`, async () => {
  const long: string[] = [];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(`${ROOT_PATH}${dir}`)) {
      const p = dir ? `${dir}/${e.name}` : e.name;
      if (e.isDirectory && !["node_modules", ".git", ".flowyml"].includes(e.name)) await walk(p);
      else if (e.isFile && /\.ts$/.test(e.name)) {
        const lines = (await Deno.readTextFile(`${ROOT_PATH}${p}`)).split("\n").length;
        if (lines > MAX_MODULE_LINES) long.push(`${p} (${lines})`);
      }
    }
  };
  for (const d of ["kernel", "plugins", "cli", "sdk"]) await walk(d).catch(() => {});
  assert.deepEqual(long, []);
});

/** Every `.ts` file under `dirs` (relative to the repo root), skipping `skip`. */
async function sourceFiles(dirs: string[], skip: (p: string) => boolean): Promise<string[]> {
  const files: string[] = [];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(`${ROOT_PATH}${dir}`)) {
      const p = `${dir}/${e.name}`;
      if (skip(p)) continue;
      if (e.isDirectory) await walk(p);
      else if (e.isFile && p.endsWith(".ts")) files.push(p);
    }
  };
  for (const d of dirs) await walk(d).catch(() => {});
  return files.sort();
}

/** Generated code, vendored code and tests: outside the function-length rule. */
const NOT_HAND_WRITTEN = (p: string) =>
  /(^|\/)(node_modules|\.flowyml|vendor|assemblyscript|static)(\/|$)/.test(p) ||
  p.endsWith("_test.ts") ||
  // `deno task build:plugins` writes these from the AssemblyScript sources.
  ["sdk/template/plugin.ts", "examples/plugins/normalize/plugin.ts"].includes(p);

/**
 * Functions over 80 lines, as `file:line (n lines)`: from the declaration to
 * the closing brace at the same indentation (exact on `deno fmt` layout).
 * The same detector as the repository's long-function hook.
 */
function longFunctions(file: string, text: string, limit = 80): string[] {
  const decl =
    /^(\s*)(export\s+)?(default\s+)?(async\s+)?(function\*?\s+\w+|(static\s+|private\s+|public\s+|protected\s+|override\s+|readonly\s+|async\s+|get\s+|set\s+|#)*[\w#]+\s*(<[^>]*>)?\s*\([^;]*\)\s*(:\s*[^=;{]+)?\{\s*$|(const|let)\s+\w+\s*=\s*(async\s+)?\([^;]*\)\s*(:\s*[^=]+)?=>\s*\{\s*$)/;
  const lines = text.split("\n");
  const found: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = lines[i].match(decl);
    if (!m || /^\s*(if|for|while|switch|catch|return|else)\b/.test(lines[i])) continue;
    for (let j = i + 1; j < lines.length; j++) {
      if (lines[j].startsWith(m[1] + "}") && !lines[j].startsWith(m[1] + " ")) {
        if (j - i + 1 > limit) found.push(`${file}:${i + 1} (${j - i + 1} lines)`);
        break;
      }
    }
  }
  return found;
}

/**
 * Files that still hold a function over 80 lines, named so that the rule stops any new one
 * elsewhere. Remove an entry once its file passes.
 */
const LONG_FUNCTION_ALLOWLIST: string[] = [];

Deno.test("architecture: no function over 80 lines outside generated code and tests", async () => {
  const files = await sourceFiles(
    ["kernel", "plugins", "cli", "sdk", "examples", "bench"],
    NOT_HAND_WRITTEN,
  );
  files.push("mod.ts");
  assert.ok(files.length > 50, `source files read (${files.length})`);
  const long: string[] = [];
  for (const f of files) {
    if (LONG_FUNCTION_ALLOWLIST.includes(f)) continue;
    long.push(...longFunctions(f, await Deno.readTextFile(`${ROOT_PATH}${f}`)));
  }
  assert.deepEqual(long, [], "split these into named steps (≤ 80 lines each)");
});

/** Repo-relative modules that `file` imports (static, dynamic and type-only), from its source. */
function importsOf(file: string, text: string): string[] {
  const specs = [
    ...text.matchAll(/^\s*(?:import|export)\b[^"'`;]*?from\s*["']([^"']+)["']/gm),
    ...text.matchAll(/^\s*import\s*["']([^"']+)["']/gm),
    ...text.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g),
  ].map((m) => m[1]);
  return specs.filter((s) => s.startsWith(".")).map((s) =>
    new URL(s, new URL(file, ROOT)).href.slice(ROOT.href.length)
  );
}

/**
 * What cli/ may import from plugins/: the registry (with the local classes, or the built-in
 * types alone), and the list of modules loaded on demand.
 */
const CLI_ENTRIES = ["plugins/mod.ts", "plugins/builtin_types.ts", "plugins/lazy_graph.ts"];

Deno.test("architecture: cli/ reaches plugins only through the registry; plugins/ never import cli/", async () => {
  const edges: string[] = [];
  for (const f of await sourceFiles(["cli", "plugins"], NOT_HAND_WRITTEN)) {
    for (const to of importsOf(f, await Deno.readTextFile(`${ROOT_PATH}${f}`))) {
      if (f.startsWith("plugins/") && to.startsWith("cli/")) edges.push(`${f} -> ${to}`);
      if (f.startsWith("cli/") && to.startsWith("plugins/") && !CLI_ENTRIES.includes(to)) {
        edges.push(`${f} -> ${to}`);
      }
    }
  }
  // `cli/main.ts` → `plugins/builtin_types.ts` is the registry itself. A plugin's command, compile
  // target or dashboard queries reach the CLI through a hook (kernel/commands.ts,
  // kernel/ui_queries.ts), and the CLI's parts reach the plugin through cli/services.ts.
  assert.deepEqual(
    [...new Set(edges)],
    [],
    "go through the component registry or a hook (kernel/commands.ts, kernel/ui_queries.ts)",
  );
});

/** Why `text` holds a component: a named class extending a contract, or a registration. */
function componentMarks(text: string): string[] {
  const contracts =
    "StackComponent|Orchestrator|EngineOrchestrator|ArtifactStore|MetadataStore|ContainerRegistry|Executor";
  return [
    ...text.matchAll(
      new RegExp(`^\\s*(?:export\\s+)?class\\s+(\\w+)\\s+extends\\s+(?:${contracts})\\b`, "gm"),
    ),
  ].map((m) => `defines ${m[1]}`).concat(
    [...text.matchAll(/\.(register\(\s*[A-Z]\w*|registerLazy\(\s*\{)/g)].map((m) =>
      `calls ${m[1]}`
    ),
  );
}

Deno.test("architecture: the sandbox runtime (kernel/sandbox/) imports no component", async () => {
  const files = await sourceFiles(["kernel/sandbox"], NOT_HAND_WRITTEN);
  assert.ok(files.length > 20, `sandbox files read (${files.length})`);
  // Every module the sandbox loads, from its entry point and the files it spawns by path.
  const edges = await graph(["kernel/sandbox/mod.ts"]);
  for (const f of files.filter((f) => !edges.has(f))) {
    for (const [m, deps] of await graph([f])) edges.set(m, deps);
  }
  const bad: string[] = [];
  for (const m of new Set([...files, ...edges.keys()])) {
    if (m.startsWith("plugins/")) bad.push(`${m} is loaded`);
    const text = await Deno.readTextFile(`${ROOT_PATH}${m}`);
    for (const d of new Set([...(edges.get(m) ?? []), ...importsOf(m, text)])) {
      if (d.startsWith("plugins/")) bad.push(`${m} imports ${d}`);
    }
    bad.push(...componentMarks(text).map((c) => `${m} ${c}`));
  }
  assert.deepEqual(bad, [], "components live in plugins/ and are registered in plugins/mod.ts");
});

/** npm packages that only a component of a remote stack (or a build tool) may load. */
const CLOUD_SDKS = [
  "bullmq",
  "ioredis",
  "minio",
  "@google-cloud/storage",
  "google-auth-library",
  "postgres",
  "binaryen",
  "wabt",
  "assemblyscript",
  "@kubernetes/client-node",
  "kubernetes-models",
  "playwright-core",
  "@extism/extism",
  "commander",
  "@dagrejs/dagre",
];

/**
 * The modules a process started at `entry` evaluates: static edges only (a lazy `import()` of a
 * component registered by type runs when a stack uses that type).
 */
async function staticallyLoaded(entry: string): Promise<Set<string>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: ROOT_PATH,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    roots: string[];
    modules: {
      specifier: string;
      dependencies?: { code?: { specifier?: string }; isDynamic?: boolean }[];
    }[];
    redirects: Record<string, string>;
  };
  const bySpec = new Map(info.modules.map((m) => [m.specifier, m]));
  const resolve = (s: string) => info.redirects[s] ?? s;
  const loaded = new Set<string>();
  const todo = info.roots.map(resolve);
  while (todo.length) {
    const s = todo.pop()!;
    if (loaded.has(s)) continue;
    loaded.add(s);
    for (const d of bySpec.get(s)?.dependencies ?? []) {
      if (!d.isDynamic && d.code?.specifier) todo.push(resolve(d.code.specifier));
    }
  }
  return loaded;
}

/** The sandbox modules a light process may load: errors and `pluginStep`'s declaration. */
const LIGHT_SANDBOX = ["errors.ts", "plugin_step.ts", "plugin_configs.ts"].map((f) =>
  new URL(`kernel/sandbox/${f}`, ROOT).href
);

Deno.test('architecture: import "flowyml" (mod.ts) loads no cloud SDK, sandbox runtime, zod or node:crypto', async () => {
  const loaded = await staticallyLoaded("mod.ts");
  const npm = [...loaded].filter((s) => s.startsWith("npm:"))
    .map((s) => s.replace(/^npm:\/?/, "").replace(/@[^@/]+$/, ""));
  assert.deepEqual(npm.filter((p) => CLOUD_SDKS.includes(p)), [], `mod.ts loads ${npm.join(", ")}`);
  // Nor the sandbox runtime (pluginStep loads it on the step's first run; the rest of the sandbox
  // API is "flowyml/sandbox") nor node:crypto (kernel/hash.ts loads it on the first large input):
  // both cost a cold start (issue 16) that most programs never need.
  const sandbox = [...loaded].filter((s) =>
    s.includes("/kernel/sandbox/") && !LIGHT_SANDBOX.includes(s)
  );
  assert.deepEqual(sandbox, [], "mod.ts evaluates sandbox runtime modules statically");
  assert.ok(!loaded.has("node:crypto"), "mod.ts imports node:crypto statically");
  // Config schemas (zod) load on first need: `loadSchema` / `static loadConfigSchema`.
  assert.ok(!npm.includes("zod"), `mod.ts imports zod statically (${npm.join(", ")})`);
});

Deno.test('architecture: `import "flowyml"` and the processes of `flowyml run` load no commander, sandbox runtime or node: builtin but node:sqlite up front', async () => {
  // Each costs ≈ 12–20 ms of every cold `flowyml run` (bench/cold_start_bench.ts): a plain
  // `run` is read without commander (cli/run_options.ts), the run's child closes plugin hosts
  // through exit hooks, and node:fs is never needed where Deno's own file API does.
  for (const entry of ["mod.ts", "cli/main.ts", "cli/launcher.ts", "cli/run_main.ts"]) {
    const loaded = await staticallyLoaded(entry);
    const npm = [...loaded].filter((s) => s.startsWith("npm:"));
    assert.ok(!npm.some((s) => s.includes("commander")), `${entry} imports commander statically`);
    const sandbox = [...loaded].filter((s) =>
      s.includes("/kernel/sandbox/") && !LIGHT_SANDBOX.includes(s) &&
      // the limits supervisor's parts: the launcher starts it for every child
      !(entry === "cli/launcher.ts" &&
        /\/(limits|limits_client|plugin_process|protocol)\.ts$/.test(s))
    );
    assert.deepEqual(sandbox, [], `${entry} evaluates sandbox runtime modules statically`);
    assert.ok(!loaded.has("node:fs"), `${entry} imports node:fs statically`);
    // Any node: builtin but node:sqlite starts Deno's Node compatibility layer (≈ 4–6 ms of
    // `import "flowyml"`): paths come from kernel/_path.ts, node:v8 loads on first use.
    const builtins = [...loaded].filter((s) => s.startsWith("node:") && s !== "node:sqlite");
    assert.deepEqual(builtins, [], `${entry} imports ${builtins.join(", ")} statically`);
  }
});

Deno.test("architecture: the launcher of a least-privilege run loads no engine, SQLite or step runner", async () => {
  // The parent only plans the child's permissions: the built-in types say their needs from their
  // config (plugins/builtin_types.ts), so it loads no component class (≈ 6 ms of a cold start).
  for (const entry of ["cli/main.ts", "cli/launcher.ts"]) {
    const loaded = await staticallyLoaded(entry);
    const heavy = ["kernel/engine.ts", "kernel/step_runner.ts", "plugins/sqlite/metadata_store.ts"]
      .filter((f) => loaded.has(new URL(f, ROOT).href));
    assert.deepEqual(heavy, [], `${entry} loads the run's own modules statically`);
    assert.ok(!loaded.has("node:sqlite"), `${entry} imports node:sqlite statically`);
  }
});
