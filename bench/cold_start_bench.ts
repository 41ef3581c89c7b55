/**
 * Cold start of `flowyml run` on a 1-step pipeline: in-process
 * (`--inherit-permissions`) vs the default least-privilege child process,
 * against the raw primitive (`deno run` of an empty module) and the floor of
 * any durable run (a `deno run` that opens SQLite and commits one row); and the child
 * mode on a stack using a locked component module, whose permissions are
 * planned in a planner process (the parent never imports it).
 * Usage: `deno task bench cold_start`.
 * @module
 */
const ROOT = new URL("../", import.meta.url).pathname;
const dir = await Deno.makeTempDir({ prefix: "flowyml-cold-" });
await Deno.writeTextFile(`${dir}/empty.ts`, "");
// The least a durable run can do in one process: open SQLite (WAL) and commit one row.
await Deno.writeTextFile(
  `${dir}/sqlite_row.ts`,
  `import { DatabaseSync } from "node:sqlite";
const db = new DatabaseSync("floor.db");
db.exec("PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS t (k TEXT)");
db.prepare("INSERT INTO t VALUES (?)").run(String(Date.now()));
db.close();
`,
);
await Deno.writeTextFile(
  `${dir}/pipeline.ts`,
  `import { Pipeline, step } from "flowyml";
export default new Pipeline("one").add(step({ name: "one", outputs: ["x"] }, () => 1));
`,
);
const cli = ["--config", `${ROOT}deno.json`, `${ROOT}cli/main.ts`, "run", "pipeline.ts", "--quiet"];
// A project whose stack uses a locked (trusted) component module from a local file.
const locked = `${dir}/locked`;
await Deno.mkdir(locked);
await Deno.copyFile(`${dir}/pipeline.ts`, `${locked}/pipeline.ts`);
await Deno.writeTextFile(
  `${locked}/store.ts`,
  `import { LocalArtifactStore } from "flowyml";
export class BenchArtifactStore extends LocalArtifactStore { static override readonly type = "bench"; }
export const components = [BenchArtifactStore];
`,
);
await Deno.writeTextFile(
  `${locked}/flowyml.yaml`,
  "default_stack: b\nstacks:\n  b:\n    artifact_store: { type: bench, path: .flowyml/artifacts }\n",
);
const load = await new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "-A",
    "--config",
    `${ROOT}deno.json`,
    `${ROOT}cli/main.ts`,
    "component",
    "load",
    "store.ts",
  ],
  cwd: locked,
  stderr: "piped",
}).output();
if (load.code !== 0) throw new Error(new TextDecoder().decode(load.stderr));
const cases: [string, string[]][] = [
  ["raw: deno run empty.ts", ["run", "empty.ts"]],
  ["floor: deno run writing one SQLite row", ["run", "-A", "sqlite_row.ts"]],
  ["flowyml run --inherit-permissions", ["run", "-A", ...cli, "--inherit-permissions"]],
  ["flowyml run (child, computed flags)", ["run", "-A", ...cli]],
  ["flowyml run (child) + locked component", ["run", "-A", ...cli]],
];
const N = 7;
const results: Record<string, number> = {};
for (const [name, args] of cases) {
  const cwd = name.includes("locked") ? locked : dir;
  await new Deno.Command(Deno.execPath(), { args, cwd, stdout: "null", stderr: "null" }).output();
  const times: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    const out = await new Deno.Command(Deno.execPath(), {
      args,
      cwd,
      stdout: "null",
      stderr: "piped",
    })
      .output();
    times.push(performance.now() - t0);
    if (out.code !== 0) throw new Error(`${name} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  times.sort((a, b) => a - b);
  results[name] = times[Math.floor(N / 2)];
}
const raw = results[cases[0][0]];
for (const [name] of cases) {
  console.log(
    `${name.padEnd(42)} median ${results[name].toFixed(0).padStart(4)} ms  (${
      (results[name] / raw).toFixed(1)
    }× raw)`,
  );
}
await Deno.remove(dir, { recursive: true });
