/**
 * `flowyml ui` server time on big histories (issue 15: each ≤ 300 ms): the
 * runs page over 10,000 runs (50,000 step runs), and the page of a 500-step
 * run (DAG laid out by dagre; first load, and again with the layout cached as
 * during live updates). Each figure is the handler's time in this process,
 * beside a raw SQL query on the same file and the full HTTP round trip.
 *
 * Run: `deno task bench ui`.
 * @module
 */
import { SQLiteMetadataStore } from "../plugins/sqlite/metadata_store.ts";
import { LocalArtifactStore } from "../plugins/local/artifact_store.ts";
import { sqliteUiQueries } from "../plugins/sqlite/ui_queries.ts";
import { runApi, runsApi, type UiContext } from "../cli/ui/api.ts";
import { startUiServer } from "../cli/ui/server.ts";
import { Stack } from "../kernel/stack.ts";
import { LocalOrchestrator } from "../plugins/local/orchestrator.ts";
import { LocalExecutor } from "../plugins/local/executor.ts";

const RUNS = 10_000;
const STEPS_PER_RUN = 5;
const BIG = 500;
const dir = await Deno.makeTempDir({ prefix: "flowyml-ui-bench-" });
const meta = new SQLiteMetadataStore({ path: `${dir}/metadata.db` });

function fill(): string[] {
  const t0 = Date.now() - RUNS * 60_000;
  meta.db.exec("BEGIN");
  for (let i = 0; i < RUNS; i++) {
    const runId = `bench-${String(i).padStart(6, "0")}`;
    meta.createRun({
      runId,
      pipeline: `pipeline_${i % 7}`,
      status: i % 13 === 0 ? "failed" : "completed",
      stack: "local",
      params: { lr: (i % 10) / 10, seed: i },
      startedAt: t0 + i * 60_000,
      endedAt: t0 + i * 60_000 + 5_000,
    });
    for (let s = 0; s < STEPS_PER_RUN; s++) {
      meta.upsertStepRun({
        runId,
        step: `step_${s}`,
        status: s === 2 ? "cached" : "completed",
        cached: s === 2,
        attempts: 1,
        startedAt: t0 + i * 60_000 + s * 1000,
        endedAt: t0 + i * 60_000 + s * 1000 + 900,
        durationMs: 900,
      });
    }
  }
  meta.db.exec("COMMIT");
  return Object.keys(SHAPES).map((s) => bigRun(t0 + RUNS * 60_000, s));
}

/** Inputs of step i in the two 500-step shapes. */
const SHAPES: Record<string, (i: number) => number[]> = {
  // a chain where each step also reads the output 7 steps back (many long edges)
  "chain+skip": (i) => [i - 1, i - 7].filter((j) => j >= 0),
  // 25 layers of 20 steps, each reading two steps of the layer before
  "25x20 layers": (i) => i < 20 ? [] : [i - 20, i - 20 - (i % 20) + ((i + 1) % 20)],
};

/** A 500-step run of one of {@linkcode SHAPES}. */
function bigRun(at: number, shape: string): string {
  const runId = `bench-big-${shape}`;
  const graph = Array.from({ length: BIG }, (_, i) => ({
    name: `s${i}`,
    inputs: SHAPES[shape](i).map((j) => `o${j}`),
    outputs: [`o${i}`],
  }));
  meta.db.exec("BEGIN");
  meta.createRun({
    runId,
    pipeline: "big",
    status: "completed",
    stack: "local",
    params: {},
    startedAt: at,
    endedAt: at + BIG * 10,
    extra: { graph },
  });
  for (let i = 0; i < BIG; i++) {
    const hash = i.toString(16).padStart(64, "0");
    const ref = { hash, path: `objects/${hash.slice(0, 2)}/${hash}`, uri: `file:///x/${hash}` };
    meta.upsertStepRun({
      runId,
      step: `s${i}`,
      status: "completed",
      cached: i % 3 === 0,
      attempts: i % 50 === 0 ? 2 : 1,
      startedAt: at + i * 10,
      endedAt: at + i * 10 + 8,
      durationMs: 8,
      worker: "local",
      outputs: { [`o${i}`]: { ...ref, size: 100, serializer: "json", serializerVersion: 1 } },
    });
    meta.recordArtifact({
      ...ref,
      runId,
      step: `s${i}`,
      name: `o${i}`,
      size: 100,
      serializer: "json",
      serializerVersion: 1,
      createdAt: at + i * 10,
    });
    meta.logMetrics([{ runId, step: `s${i}`, name: "loss", value: 1 / (i + 1), at }]);
  }
  meta.db.exec("COMMIT");
  return runId;
}

async function median(f: () => unknown, n = 9): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await f();
    xs.push(performance.now() - t);
  }
  return xs.sort((a, b) => a - b)[n >> 1];
}

const tFill = performance.now();
const bigs = fill();
console.log(
  `filled ${RUNS} runs (${RUNS * STEPS_PER_RUN} step runs) and two ${BIG}-step runs in ${
    ((performance.now() - tFill) / 1000).toFixed(1)
  } s`,
);
const stack = new Stack("local", {
  orchestrator: new LocalOrchestrator(),
  executor: new LocalExecutor(),
  artifactStore: new LocalArtifactStore({ path: `${dir}/artifacts` }),
  metadataStore: meta,
});
const ctx: UiContext = {
  stack,
  config: { stacks: {}, resources: {}, plugins: {} },
  queries: sqliteUiQueries(meta),
  allowActions: false,
};
const url = (q: string) => new URL(`http://x/api/runs?${q}`);
const raw = (sql: string, ...a: (string | number)[]) => () => meta.db.prepare(sql).all(...a);

const first: [string, number][] = [];
for (const id of bigs) {
  const t = performance.now();
  await runApi(ctx, id);
  first.push([id, performance.now() - t]);
}
const big = bigs[0];

const rows: [string, number, string, number][] = [];
const add = async (name: string, f: () => unknown, base: string, b: () => unknown) =>
  rows.push([name, await median(f), base, await median(b)]);
await add(
  "runs page 1 (10k runs)",
  () => runsApi(ctx, url("")),
  "SELECT 50 newest runs",
  raw("SELECT * FROM runs ORDER BY started_at DESC LIMIT 50"),
);
await add(
  "runs page 20 of one pipeline",
  () => runsApi(ctx, url("pipeline=pipeline_3&page=20")),
  "same rows, raw",
  raw(
    "SELECT * FROM runs WHERE pipeline = ? ORDER BY started_at DESC LIMIT 50 OFFSET 950",
    "pipeline_3",
  ),
);
await add(
  "runs search in params",
  () => runsApi(ctx, url("q=%22seed%22%3A777")),
  "LIKE on params, raw",
  raw("SELECT * FROM runs WHERE params LIKE ? ORDER BY started_at DESC LIMIT 50", '%"seed":777%'),
);
await add(
  `run page, ${BIG} steps (layout cached)`,
  () => runApi(ctx, big),
  "SELECT its step runs",
  raw("SELECT * FROM step_runs WHERE run_id = ?", big),
);

const server = await startUiServer(stack, { config: ctx.config, port: 0 });
const httpRuns = await median(async () => await (await fetch(`${server.url}api/runs`)).text());
const httpBig = await median(async () => await (await fetch(`${server.url}api/run/${big}`)).text());
await server.shutdown();

console.log("\n| page | server time | raw SQL | | ratio |\n|---|---|---|---|---|");
for (const [name, t, base, b] of rows) {
  console.log(
    `| ${name} | ${t.toFixed(1)} ms | ${base} | ${b.toFixed(2)} ms | ${(t / b).toFixed(1)}× |`,
  );
}
for (const [id, t] of first) {
  console.log(
    `| ${id}: ${BIG}-step run page, first load (dagre layout) | ${t.toFixed(1)} ms | | | |`,
  );
}
console.log(
  `\nHTTP round trip (JSON included): runs page ${httpRuns.toFixed(1)} ms, ${BIG}-step run ${
    httpBig.toFixed(1)
  } ms`,
);
const worst = Math.max(...first.map((f) => f[1]), ...rows.map((r) => r[1]));
console.log(`budget 300 ms: ${worst <= 300 ? "met" : "MISSED"} (worst ${worst.toFixed(1)} ms)`);
meta.close();
await Deno.remove(dir, { recursive: true });
