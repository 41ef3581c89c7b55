/**
 * First import of `flowyml` (`mod.ts`), of `flowyml/kernel` and of the CLI
 * module (`cli/main.ts`, no command run) in a fresh process, against the raw
 * primitive: `deno run` of an empty module: median wall time and CPU time
 * (user + sys, from `/usr/bin/time` when present: steadier than wall time on
 * a loaded machine). Also prints the size of each module graph: the modules a
 * plain import evaluates (static edges), the start-up graph Deno builds and,
 * under `"nodeModulesDir": "auto"`, checks the npm packages of (static and
 * literal `import()` edges: see kernel/lazy_import.ts), and the whole graph
 * `deno info` reports (type-only edges too).
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

const TIME = await Deno.stat("/usr/bin/time").then(() => "/usr/bin/time", () => undefined);

/** Median wall and CPU time (ms; CPU `NaN` without /usr/bin/time) of `deno run file`, fresh processes. */
async function medianRun(file: string): Promise<{ wall: number; cpu: number }> {
  const deno = [Deno.execPath(), "run", "-A", "--config", `${ROOT}deno.json`, file];
  const [cmd, ...args] = TIME ? [TIME, "-f", "@cpu %U %S", ...deno] : deno;
  const run = () =>
    new Deno.Command(cmd, { args, cwd: dir, stdout: "null", stderr: "piped" }).output();
  await run();
  const walls: number[] = [];
  const cpus: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    const out = await run();
    walls.push(performance.now() - t0);
    const err = new TextDecoder().decode(out.stderr);
    if (out.code !== 0) throw new Error(`${file}: ${err}`);
    const m = /@cpu ([\d.]+) ([\d.]+)/.exec(err);
    cpus.push(m ? (Number(m[1]) + Number(m[2])) * 1000 : NaN);
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(N / 2)];
  return { wall: median(walls), cpu: median(cpus) };
}

interface InfoModule {
  specifier: string;
  dependencies?: { code?: { specifier?: string }; isDynamic?: boolean }[];
}

/** Module counts of `path`'s graph: evaluated (static), start-up (static + literal `import()`), all. */
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
  const closure = (dynamic: boolean) => {
    const seen = new Set<string>();
    const todo = info.roots.map(resolve);
    while (todo.length) {
      const spec = todo.pop()!;
      if (seen.has(spec)) continue;
      seen.add(spec);
      for (const dep of bySpec.get(spec)?.dependencies ?? []) {
        if ((dynamic || !dep.isDynamic) && dep.code?.specifier) {
          todo.push(resolve(dep.code.specifier));
        }
      }
    }
    return seen;
  };
  const npm = (specs: Iterable<string>) =>
    [...specs].filter((s) => s.startsWith("npm:")).map((s) => s.slice(5).replace(/^\//, ""));
  const evaluated = closure(false);
  const startup = closure(true);
  return {
    staticModules: evaluated.size,
    staticNpm: npm(evaluated),
    startupModules: startup.size,
    startupNpm: npm(startup),
    allModules: info.modules.length,
    allNpm: npm(bySpec.keys()),
  };
}

const results = new Map<string, { wall: number; cpu: number }>();
for (const [name, file] of entries) results.set(name, await medianRun(file));
const raw = results.get(entries[0][0])!;
for (const [name] of entries) {
  const { wall, cpu } = results.get(name)!;
  console.log(
    `${name.padEnd(34)} median ${wall.toFixed(0).padStart(4)} ms  (${
      (wall / raw.wall).toFixed(2)
    }× raw)` +
      (Number.isNaN(cpu) ? "" : `  CPU ${cpu.toFixed(0).padStart(4)} ms`),
  );
}
for (const path of ["mod.ts", "kernel/mod.ts", "cli/main.ts"]) {
  const g = await graphSize(`${ROOT}${path}`);
  console.log(
    `${path.padEnd(14)} graph: ${g.staticModules} modules evaluated on import (npm: ${
      g.staticNpm.join(", ") || "none"
    }); start-up graph ${g.startupModules} (npm: ${
      g.startupNpm.join(", ") || "none"
    }); ${g.allModules} in deno info (${g.allNpm.length} npm)`,
  );
}
await Deno.remove(dir, { recursive: true });
