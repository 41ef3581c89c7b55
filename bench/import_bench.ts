/**
 * First import of `flowyml` (`mod.ts`), of `flowyml/kernel` and of the CLI
 * module (`cli/main.ts`, no command run) in a fresh process, against the raw
 * primitive: `deno run` of an empty module. Also prints the size of each
 * module graph: the modules a plain import loads (static edges only) and the
 * whole graph `deno info` reports (lazy `import()` edges too), with the npm
 * packages in each.
 * Usage: `deno task bench import` (or `deno run -A bench/import_bench.ts`).
 * @module
 */
const ROOT = new URL("../", import.meta.url).pathname;
const N = Number(Deno.env.get("BENCH_N") ?? 9);
const dir = await Deno.makeTempDir({ prefix: "flowyml-import-" });
const entries: [string, string, string][] = [
  ["raw: deno run empty.ts", "empty.ts", ""],
  ['import "flowyml"', "core.ts", `import "flowyml";\n`],
  ['import "flowyml/kernel"', "kernel.ts", `import "flowyml/kernel";\n`],
  ["import cli/main.ts (no command)", "cli.ts", `import "${ROOT}cli/main.ts";\n`],
];
for (const [, file, body] of entries) await Deno.writeTextFile(`${dir}/${file}`, body);

/** Median wall time of `deno run` of `file` in a fresh process, after one warm-up. */
async function medianRun(file: string): Promise<number> {
  const args = ["run", "-A", "--config", `${ROOT}deno.json`, file];
  const run = () =>
    new Deno.Command(Deno.execPath(), { args, cwd: dir, stdout: "null", stderr: "piped" })
      .output();
  await run();
  const times: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    const out = await run();
    times.push(performance.now() - t0);
    if (out.code !== 0) throw new Error(`${file}: ${new TextDecoder().decode(out.stderr)}`);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(N / 2)];
}

interface InfoModule {
  specifier: string;
  dependencies?: { code?: { specifier?: string }; isDynamic?: boolean }[];
}

/** Module counts of `path`'s graph: static closure and the whole `deno info` graph. */
async function graphSize(path: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "--config", `${ROOT}deno.json`, path],
    stdout: "piped",
    stderr: "null",
  }).output();
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    roots: string[];
    modules: InfoModule[];
    redirects: Record<string, string>;
  };
  const bySpec = new Map(info.modules.map((m) => [m.specifier, m]));
  const resolve = (s: string) => info.redirects[s] ?? s;
  const seen = new Set<string>();
  const todo = info.roots.map(resolve);
  while (todo.length) {
    const spec = todo.pop()!;
    if (seen.has(spec)) continue;
    seen.add(spec);
    for (const dep of bySpec.get(spec)?.dependencies ?? []) {
      if (!dep.isDynamic && dep.code?.specifier) todo.push(resolve(dep.code.specifier));
    }
  }
  const npm = (specs: Iterable<string>) =>
    [...specs].filter((s) => s.startsWith("npm:")).map((s) => s.slice(5).replace(/^\//, ""));
  return {
    staticModules: seen.size,
    staticNpm: npm(seen),
    allModules: info.modules.length,
    allNpm: npm(bySpec.keys()),
  };
}

const results = new Map<string, number>();
for (const [name, file] of entries) results.set(name, await medianRun(file));
const raw = results.get(entries[0][0])!;
for (const [name] of entries) {
  const ms = results.get(name)!;
  console.log(
    `${name.padEnd(34)} median ${ms.toFixed(0).padStart(4)} ms  (${(ms / raw).toFixed(2)}× raw)`,
  );
}
for (const path of ["mod.ts", "kernel/mod.ts", "cli/main.ts"]) {
  const g = await graphSize(`${ROOT}${path}`);
  console.log(
    `${path.padEnd(14)} graph: ${g.staticModules} modules loaded on import (npm: ${
      g.staticNpm.join(", ") || "none"
    }); ${g.allModules} with lazy imports (${g.allNpm.length} npm packages)`,
  );
}
await Deno.remove(dir, { recursive: true });
