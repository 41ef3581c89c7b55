/**
 * Architecture rules, checked on the real module graph (`deno info --json`):
 * no import cycles among our modules, `kernel/` imports nothing from
 * `plugins/` or `cli/`, and source modules stay under 600 lines.
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
  const edges = await graph(["mod.ts", "cli/main.ts"]);
  assert.ok(edges.size > 20, `module graph read (${edges.size} modules)`);
  const cycle = findCycle(edges);
  assert.equal(cycle, undefined, `import cycle: ${cycle?.join(" → ")}`);
  for (const [m, deps] of edges) {
    if (!m.startsWith("kernel/")) continue;
    const bad = deps.filter((d) => d.startsWith("plugins/") || d.startsWith("cli/"));
    assert.deepEqual(bad, [], `${m} imports ${bad.join(", ")}`);
  }
});

Deno.test("architecture: source modules stay under 600 lines", async () => {
  const long: string[] = [];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(`${ROOT_PATH}${dir}`)) {
      const p = dir ? `${dir}/${e.name}` : e.name;
      if (e.isDirectory && !["node_modules", ".git", ".flowyml"].includes(e.name)) await walk(p);
      else if (e.isFile && /\.ts$/.test(e.name)) {
        const lines = (await Deno.readTextFile(`${ROOT_PATH}${p}`)).split("\n").length;
        if (lines > 600) long.push(`${p} (${lines})`);
      }
    }
  };
  for (const d of ["kernel", "plugins", "cli", "sdk"]) await walk(d).catch(() => {});
  assert.deepEqual(long, []);
});
