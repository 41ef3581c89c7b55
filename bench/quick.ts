/**
 * `deno task bench:quick`: the four speed figures of issue 16 in about a
 * minute, each as a ratio to its raw baseline measured in the same run, checked
 * against the committed `bench/baseline.json`. Exits 1 when a ratio is more
 * than 2× its baseline ratio (a regression), so CI can run it.
 *
 * | figure          | flowyml                                   | raw baseline                                  |
 * | --------------- | ----------------------------------------- | --------------------------------------------- |
 * | `chain_first`   | per step, 200-step chain, first run here  | one SQLite WAL transaction (three small rows) |
 * | `chain_warm`    | per step, same chain, warm (median of 3)  | same                                          |
 * | `import`        | `import "flowyml"` in a fresh process     | `deno run` of an empty module                 |
 * | `cold_inherit`  | `flowyml run` 1 step, in process          | same empty `deno run`                         |
 * | `cold_child`    | `flowyml run` 1 step, least-privilege child | same empty `deno run`                       |
 * | `queue`         | raw BullMQ jobs/s ÷ flowyml steps/s        | raw BullMQ on the same redis-server           |
 *
 * The chain's raw baseline here is the SQLite transaction alone: a step no longer writes a file,
 * and the atomic file write of the floor (`bench/core_bench.ts` prints that ratio) swings
 * 10× with the disk, which would make a ratio against it fail or pass by the disk's mood.
 *
 * The queue figure needs `redis-server` (`bash .ci/install_services.sh`); without it the figure is
 * skipped with a loud line, or fails when `CI=true`. `--update` rewrites the baseline file from
 * this run; `--only=chain,import` runs a subset.
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { median, timeChain } from "./_chain.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const BASELINE = `${ROOT}bench/baseline.json`;
/** A ratio may grow to this multiple of its baseline before the check fails. */
const TOLERANCE = 2;

/** One measured figure: flowyml's value, the raw primitive's, and value ÷ raw (lower is better). */
export interface Figure {
  /** Figure id, as in `bench/baseline.json`. */
  name: string;
  /** flowyml's figure. */
  value: number;
  /** The raw primitive's figure, measured in the same run. */
  raw: number;
  /** Unit of `value` and `raw`. */
  unit: string;
}

/** A chain of `n` trivial steps on a fresh local stack; ms per step. */
async function chainPerStep(n: number): Promise<number> {
  return await timeChain(n) / n;
}

/** One SQLite WAL transaction (synchronous=NORMAL, three small rows) per step; ms. */
function walTxnPerStep(n: number): number {
  const dir = Deno.makeTempDirSync({ prefix: "flowyml-quick-" });
  const db = new DatabaseSync(`${dir}/floor.db`);
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL");
  db.exec("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)");
  const ins = db.prepare("INSERT INTO t (k, v) VALUES (?, ?)");
  const t = performance.now();
  for (let i = 0; i < n; i++) {
    const h = crypto.randomUUID();
    db.exec("BEGIN");
    for (let r = 0; r < 3; r++) ins.run(`${h}${r}`, '{"v":1}');
    db.exec("COMMIT");
  }
  const took = performance.now() - t;
  db.close();
  Deno.removeSync(dir, { recursive: true });
  return took / n;
}

/** Chain figures: first run in this process and warm, against one WAL transaction. */
async function chainFigures(): Promise<Figure[]> {
  const N = 200;
  const first = await chainPerStep(N);
  const warm = median([await chainPerStep(N), await chainPerStep(N), await chainPerStep(N)]);
  const floor = median([walTxnPerStep(N), walTxnPerStep(N), walTxnPerStep(N)]);
  return [
    { name: "chain_first", value: first, raw: floor, unit: "ms/step" },
    { name: "chain_warm", value: warm, raw: floor, unit: "ms/step" },
  ];
}

/** Median wall time (ms) of `deno <args>` in `cwd` over `n` fresh processes, after a warm-up. */
async function processMs(args: string[], cwd: string, n = 5): Promise<number> {
  const run = () =>
    new Deno.Command(Deno.execPath(), { args, cwd, stdout: "null", stderr: "piped" }).output();
  await run();
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const out = await run();
    times.push(performance.now() - t);
    if (out.code !== 0) {
      throw new Error(`deno ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
    }
  }
  return median(times);
}

/** Import and cold-start figures, all against one empty `deno run` measured here. */
async function processFigures(): Promise<Figure[]> {
  const dir = await Deno.makeTempDir({ prefix: "flowyml-quick-" });
  try {
    await Deno.writeTextFile(`${dir}/empty.ts`, "");
    await Deno.writeTextFile(`${dir}/core.ts`, `import "flowyml";\n`);
    await Deno.writeTextFile(
      `${dir}/pipeline.ts`,
      `import { Pipeline, step } from "flowyml";\n` +
        `export default new Pipeline("one").add(step({ name: "one", outputs: ["x"] }, () => 1));\n`,
    );
    const cfg = ["--config", `${ROOT}deno.json`];
    const cli = [...cfg, `${ROOT}cli/main.ts`, "run", "pipeline.ts", "--quiet"];
    const raw = await processMs(["run", "empty.ts"], dir);
    return [
      { name: "import", value: await processMs(["run", "-A", ...cfg, "core.ts"], dir), raw },
      {
        name: "cold_inherit",
        value: await processMs(["run", "-A", ...cli, "--inherit-permissions"], dir),
        raw,
      },
      { name: "cold_child", value: await processMs(["run", "-A", ...cli], dir), raw },
    ].map((f) => ({ ...f, unit: "ms" }));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The queue figure from `bench/queue_bench.ts` in quick mode (needs redis-server). */
async function queueFigures(): Promise<Figure[]> {
  const json = await Deno.makeTempFile({ prefix: "flowyml-quick-", suffix: ".json" });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${ROOT}bench/queue_bench.ts`],
      env: { BENCH_QUICK: "1", BENCH_JSON: json, ROUNDS: "1", WARMUP: "1" },
      stdout: "null",
      stderr: "piped",
    }).output();
    const text = await Deno.readTextFile(json);
    if (out.code !== 0 || !text) {
      const err = new TextDecoder().decode(out.stderr);
      if (/redis-server/.test(err) && Deno.env.get("CI") !== "true") {
        console.error("SKIPPED: queue figure (no redis-server; bash .ci/install_services.sh)");
        return [];
      }
      throw new Error(`queue bench failed:\n${err.slice(-2000)}`);
    }
    const r = JSON.parse(text) as { flowymlStepsPerSec: number; rawJobsPerSec: number };
    // Lower is better everywhere: time per job, flowyml's against raw BullMQ's.
    return [{
      name: "queue",
      value: 1000 / r.flowymlStepsPerSec,
      raw: 1000 / r.rawJobsPerSec,
      unit: "ms/job",
    }];
  } finally {
    await Deno.remove(json).catch(() => {});
  }
}

const GROUPS: Record<string, () => Promise<Figure[]>> = {
  chain: chainFigures,
  import: processFigures,
  queue: queueFigures,
};

/** Compare each figure's ratio with the baseline's; returns the regressions. */
function check(figures: Figure[], baseline: Record<string, number>): string[] {
  const bad: string[] = [];
  for (const f of figures) {
    const ratio = f.value / f.raw;
    const base = baseline[f.name];
    const verdict = base === undefined
      ? "no baseline"
      : ratio > base * TOLERANCE
      ? `REGRESSION: over ${TOLERANCE}× the baseline ${base.toFixed(2)}×`
      : `ok (baseline ${base.toFixed(2)}×)`;
    if (verdict.startsWith("REGRESSION")) bad.push(f.name);
    console.log(
      `${f.name.padEnd(13)} ${f.value.toFixed(3).padStart(9)} ${f.unit.padEnd(7)} raw ${
        f.raw.toFixed(3).padStart(9)
      }  ${ratio.toFixed(2).padStart(6)}×  ${verdict}`,
    );
  }
  return bad;
}

if (import.meta.main) {
  const only = Deno.args.find((a) => a.startsWith("--only="))?.slice(7).split(",");
  const figures: Figure[] = [];
  for (const [group, measure] of Object.entries(GROUPS)) {
    if (!only || only.includes(group)) figures.push(...await measure());
  }
  const baseline = JSON.parse(await Deno.readTextFile(BASELINE)) as {
    ratios: Record<string, number>;
  };
  const bad = check(figures, baseline.ratios);
  if (Deno.args.includes("--update")) {
    const ratios = { ...baseline.ratios };
    for (const f of figures) ratios[f.name] = Number((f.value / f.raw).toFixed(3));
    const note = "ratio = flowyml ÷ raw baseline, same run; written by `deno task bench:quick " +
      `--update\` on ${new Date().toISOString().slice(0, 10)}`;
    await Deno.writeTextFile(BASELINE, JSON.stringify({ note, ratios }, null, 2) + "\n");
    console.log(`baseline written: ${BASELINE}`);
  } else if (bad.length) {
    console.error(`bench:quick: ${bad.join(", ")} regressed more than ${TOLERANCE}×`);
    Deno.exit(1);
  }
}
