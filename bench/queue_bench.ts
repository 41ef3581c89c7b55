/**
 * Scale-out bench, side by side on one real redis-server:
 *
 * 1. Throughput: 1,000 trivial flowyml steps over 2 `flowyml worker`
 *    processes (concurrency 10 each) against raw BullMQ: 1,000 empty jobs
 *    over 2 raw BullMQ worker processes with the same concurrency. Prints
 *    steps/s, jobs/s and the ratio (target ≥ 50%).
 * 2. Restart latency: a worker is killed with SIGKILL during a step; the time
 *    until another worker starts that step again (target ≤ 5 s with
 *    lockDurationMs 2000 / stalledIntervalMs 1000).
 *
 * ```sh
 * deno run -A bench/queue_bench.ts            # needs redis-server (bash .ci/install_services.sh)
 * ```
 * @module
 */
import { Queue, QueueEvents, Worker } from "bullmq";
import { fileURLToPath } from "node:url";
import process from "node:process";
import "../plugins/mod.ts";
import { parseConfig } from "../kernel/config.ts";
import { buildStack } from "../kernel/stack.ts";
import type { Pipeline } from "../kernel/pipeline.ts";
import { redisConnection } from "../plugins/queue/config.ts";
import type { QueueOrchestrator } from "../plugins/queue/orchestrator.ts";
import { listWorkers } from "../plugins/queue/worker.ts";
import { startRedis } from "../tests/services/redis.ts";

const JOBS = 1000;
const WORKERS = 2;
const CONCURRENCY = 10;
const ROUNDS = Number(Deno.env.get("ROUNDS") ?? 3);
const SELF = fileURLToPath(import.meta.url);
const WORKER_MAIN = fileURLToPath(new URL("../plugins/queue/worker_main.ts", import.meta.url));

// Raw BullMQ worker process: `queue_bench.ts raw-worker <redisUrl> <queue>`.
if (Deno.args[0] === "raw-worker") {
  const [, url, queue] = Deno.args;
  const w = new Worker(queue, async () => {}, {
    connection: redisConnection(url),
    concurrency: CONCURRENCY,
    drainDelay: 1,
  });
  await w.waitUntilReady();
  console.log("ready");
  Deno.addSignalListener("SIGTERM", () =>
    w.close().then(() => {
      const u = process.cpuUsage();
      if (Deno.env.get("BENCH_VERBOSE")) {
        console.error(`    raw worker cpu ${Math.round((u.user + u.system) / 1000)} ms`);
      }
      Deno.exit(0);
    }));
} else if (import.meta.main) {
  await main();
}

function spawn(args: string[], env: Record<string, string> = {}): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  })
    .spawn();
}

async function echoStopped(s: ReadableStream<string>): Promise<void> {
  let buf = "";
  for await (const c of s) buf += c;
  const m = /worker stopped: .*/.exec(buf);
  if (m && Deno.env.get("BENCH_VERBOSE")) console.log(`    ${m[0]}`);
}

async function waitLine(p: Deno.ChildProcess, re: RegExp): Promise<ReadableStream<string>> {
  const lines = p.stdout.pipeThrough(new TextDecoderStream());
  const [a, b] = lines.tee();
  const reader = a.getReader();
  let buf = "";
  while (!re.test(buf)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`process ended before printing ${re}`);
    buf += value;
  }
  reader.releaseLock();
  a.cancel().catch(() => {});
  return b;
}

function drain(s: ReadableStream<string>): void {
  s.pipeTo(new WritableStream()).catch(() => {});
}

async function stopAll(ps: Deno.ChildProcess[]): Promise<void> {
  for (const p of ps) {
    try {
      p.kill("SIGTERM");
    } catch { /* exited */ }
  }
  await Promise.all(ps.map((p) => p.status));
}

async function rawRound(url: string, round: number): Promise<number> {
  const name = `raw${round}`;
  const ps = Array.from(
    { length: WORKERS },
    () => spawn(["run", "-A", SELF, "raw-worker", url, name]),
  );
  for (const p of ps) drain(await waitLine(p, /ready/));
  const queue = new Queue(name, { connection: redisConnection(url) });
  const events = new QueueEvents(name, { connection: redisConnection(url) });
  await events.waitUntilReady();
  let done = 0;
  const all = new Promise<void>((r) => events.on("completed", () => ++done === JOBS && r()));
  const t0 = performance.now();
  await queue.addBulk(Array.from({ length: JOBS }, (_, i) => ({ name: "j", data: { i } })));
  await all;
  const rate = JOBS / ((performance.now() - t0) / 1000);
  await events.close();
  await queue.close();
  await stopAll(ps);
  return rate;
}

async function flowymlRound(yaml: string, config: string, pipeline: Pipeline): Promise<number> {
  const ps = Array.from(
    { length: WORKERS },
    (_, i) =>
      spawn([
        "run",
        "-A",
        WORKER_MAIN,
        "worker",
        "--stack",
        "cluster",
        "--id",
        `b${i}`,
        "-c",
        String(CONCURRENCY),
      ], {
        FLOWYML_CONFIG: config,
      }),
  );
  const outs: Promise<void>[] = [];
  for (const p of ps) outs.push(echoStopped(await waitLine(p, /worker started/)));
  const stack = await buildStack(parseConfig(yaml), "cluster");
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const res = await pipeline.run({ stack });
  const rate = JOBS / ((performance.now() - t0) / 1000);
  const cpu = process.cpuUsage(cpu0);
  if (Deno.env.get("BENCH_VERBOSE")) {
    console.log(
      `    driver: ${(performance.now() - t0).toFixed(0)} ms wall, ${
        ((cpu.user + cpu.system) / 1000).toFixed(0)
      } ms cpu`,
    );
  }
  if (res.status !== "completed") throw new Error(`bench run failed: ${res.error}`);
  const byWorker = new Map<string, number>();
  for (const s of Object.values(res.steps)) {
    byWorker.set(s.worker!, (byWorker.get(s.worker!) ?? 0) + 1);
  }
  console.log(`    steps per worker: ${[...byWorker].map(([w, n]) => `${w}=${n}`).join(" ")}`);
  await stack.close();
  await stopAll(ps);
  await Promise.all(outs);
  return rate;
}

async function restartLatency(yaml: string, config: string, marks: string): Promise<number> {
  const ps = ["k1", "k2"].map((id) =>
    spawn(["run", "-A", WORKER_MAIN, "worker", "--stack", "cluster", "--id", id], {
      FLOWYML_CONFIG: config,
    })
  );
  for (const p of ps) drain(await waitLine(p, /worker started/));
  const stack = await buildStack(parseConfig(yaml), "cluster");
  const orch = stack.orchestrator as QueueOrchestrator;
  const slow = (await import("../tests/queue/fixtures/slow.ts")).default as Pipeline;
  await Deno.remove(`${marks}/slow.log`).catch(() => {});
  const run = slow.run({ stack, params: { marks, slowMs: 8000 } });
  let victim: string | undefined;
  while (!victim) {
    const ws = await listWorkers(orch.client(), orch.config.prefix);
    victim = ws.find((w) => w.steps.some((s) => s.step === "slow"))?.id;
    await new Promise((r) => setTimeout(r, 20));
  }
  const p = ps[victim === "k1" ? 0 : 1];
  p.kill("SIGKILL");
  const killedAt = performance.now();
  await p.status;
  let latency = 0;
  while (!latency) {
    const text = await Deno.readTextFile(`${marks}/slow.log`).catch(() => "");
    if (text.split("\n").filter((l) => l.startsWith("start")).length >= 2) {
      latency = performance.now() - killedAt;
    } else await new Promise((r) => setTimeout(r, 10));
  }
  await run;
  await stack.close();
  await stopAll(ps);
  return latency;
}

async function main(): Promise<void> {
  const redis = await startRedis();
  const dir = await Deno.makeTempDir({ prefix: "flowyml-qbench-" });
  try {
    const yaml = `stacks:
  cluster:
    orchestrator: { type: queue, redis: "${redis.url}", concurrency: ${CONCURRENCY}, maxInFlight: 1000, lockDurationMs: 2000, stalledIntervalMs: 1000 }
    artifact_store: { type: local, path: ${dir}/artifacts }
    metadata_store: { type: sqlite, path: ${dir}/meta.db }
`;
    const config = `${dir}/flowyml.yaml`;
    await Deno.writeTextFile(config, yaml);
    const pipeline = (await import("./queue_bench_steps.ts")).default as Pipeline;
    console.log(
      `queue bench: ${JOBS} jobs/steps, ${WORKERS} worker processes x concurrency ${CONCURRENCY}`,
    );
    const raw: number[] = [];
    const fly: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      raw.push(await rawRound(redis.url, r));
      console.log(`  round ${r + 1}: raw BullMQ ${raw[r].toFixed(0)} jobs/s`);
      fly.push(await flowymlRound(yaml, config, pipeline));
      console.log(`  round ${r + 1}: flowyml    ${fly[r].toFixed(0)} steps/s`);
    }
    const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
    const ratio = med(fly) / med(raw);
    console.log(
      `throughput (median of ${ROUNDS}): flowyml ${med(fly).toFixed(0)} steps/s vs raw BullMQ ` +
        `${med(raw).toFixed(0)} jobs/s = ${(ratio * 100).toFixed(0)}% (target >= 50%) ${
          ratio >= 0.5 ? "OK" : "MISSED"
        }`,
    );
    const lat: number[] = [];
    for (let r = 0; r < 2; r++) lat.push(await restartLatency(yaml, config, dir));
    const worst = Math.max(...lat);
    console.log(
      `restart after kill -9 (lockDurationMs 2000, stalledIntervalMs 1000): ` +
        `${lat.map((l) => (l / 1000).toFixed(2)).join(" s, ")} s; worst ${
          (worst / 1000).toFixed(2)
        } s ` +
        `(target <= 5 s) ${worst <= 5000 ? "OK" : "MISSED"}`,
    );
  } finally {
    await redis.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
