/**
 * Scale-out bench, side by side on one real redis-server:
 *
 * 1. Throughput: 1,000 trivial flowyml steps over 2 `flowyml worker`
 *    processes (concurrency 10 each) against raw BullMQ: 1,000 empty jobs
 *    over 2 raw BullMQ worker processes with the same concurrency. Each round
 *    runs raw BullMQ, then flowyml with its stores on disk, then on tmpfs;
 *    prints steps/s, jobs/s and both ratios to the raw figure of the same run
 *    (target ≥ 80% on disk).
 * 2. Restart latency: a worker is killed with SIGKILL during a step; the time
 *    until another worker starts that step again (target ≤ 5 s with
 *    lockDurationMs 2000 / stalledIntervalMs 1000).
 *
 * ```sh
 * deno run -A bench/queue_bench.ts            # needs redis-server (bash .ci/install_services.sh)
 * BENCH_DISK_DIR=/tmp deno run -A bench/queue_bench.ts   # disk stores under /tmp instead of ./tmp
 * ```
 *
 * `BENCH_JSON=file` writes the medians as JSON; `BENCH_QUICK=1` skips the restart measure.
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
const ROUNDS = Number(Deno.env.get("ROUNDS") ?? 5);
const WARMUP = Number(Deno.env.get("WARMUP") ?? 1);
let redisPid = 0;
/**
 * Where the stores go. Disk: the repo's git-ignored `tmp/` (`BENCH_DISK_DIR` overrides it, e.g.
 * `/tmp`). Tmpfs: `/dev/shm`, so other processes' disk traffic cannot swamp that figure (skipped
 * when the machine has none).
 */
const DISK_DIR = Deno.env.get("BENCH_DISK_DIR") ??
  fileURLToPath(new URL("../tmp", import.meta.url));
const TMPFS_DIR = await Deno.stat("/dev/shm").then((s) => s.isDirectory, () => false)
  ? "/dev/shm"
  : undefined;
const SELF = fileURLToPath(import.meta.url);
const STEPS_MODULE = new URL("./queue_bench_steps.ts", import.meta.url).href;
const WORKER_MAIN = fileURLToPath(new URL("../cli/worker_main.ts", import.meta.url));
/** `BENCH_CPU_PROF=dir`: workers write V8 CPU profiles there (run the bench itself with --cpu-prof). */
const PROF_DIR = Deno.env.get("BENCH_CPU_PROF");
const PROF = PROF_DIR ? ["--cpu-prof", `--cpu-prof-dir=${PROF_DIR}`] : [];

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

/** CPU time of a process so far (Linux /proc), for BENCH_VERBOSE; default: redis-server. */
function procCpuMs(pid = redisPid): number {
  try {
    const f = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12])) * 10; // utime + stime, in 10 ms ticks
  } catch {
    return NaN;
  }
}

/** CPU of redis-server and of each worker so far. */
function cpuNow(ps: Deno.ChildProcess[]): number[] {
  return [procCpuMs(), ...ps.map((p) => procCpuMs(p.pid))];
}

function verbose(
  what: string,
  wallMs: number,
  cpu0: NodeJS.CpuUsage,
  others0: number[],
  ps: Deno.ChildProcess[],
): void {
  if (!Deno.env.get("BENCH_VERBOSE")) return;
  const cpu = process.cpuUsage(cpu0);
  const [redis, ...workers] = cpuNow(ps).map((v, i) => v - others0[i]);
  console.log(
    `    ${what}: ${wallMs.toFixed(0)} ms wall; cpu ms: driver ${
      ((cpu.user + cpu.system) / 1000).toFixed(0)
    }, redis-server ${redis}, workers ${workers.join(" + ")}`,
  );
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

/**
 * The rest of a worker's output, read as bytes: only the last 4 KiB are kept and decoded at the
 * end (decoding and teeing every step's log line cost this process ~5 ms of CPU per 1,000 steps,
 * counted in the driver's figure and taken from the cores the workers share).
 */
async function echoStopped(r: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
  let tail = new Uint8Array(0);
  for (let c = await r.read(); !c.done; c = await r.read()) {
    const joined = new Uint8Array(tail.length + c.value.length);
    joined.set(tail);
    joined.set(c.value, tail.length);
    tail = joined.subarray(Math.max(0, joined.length - 4096));
  }
  const m = /worker stopped: .*/.exec(new TextDecoder().decode(tail));
  if (m && Deno.env.get("BENCH_VERBOSE")) console.log(`    ${m[0]}`);
}

/** Read a child's stdout until `re` matches; returns the reader, positioned after that chunk. */
async function waitLine(
  p: Deno.ChildProcess,
  re: RegExp,
): Promise<ReadableStreamDefaultReader<Uint8Array>> {
  const reader = p.stdout.getReader();
  const dec = new TextDecoder();
  let buf = "";
  while (!re.test(buf)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`process ended before printing ${re}`);
    buf += dec.decode(value, { stream: true });
  }
  return reader;
}

/** Discard the rest of a child's output. */
async function drain(r: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
  try {
    while (!(await r.read()).done) { /* discard */ }
  } catch { /* closed */ }
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
  if (Deno.env.get("BENCH_ONLY") === "flowyml") return NaN; // profiling the driver alone
  const name = `raw${round}`;
  const ps = Array.from(
    { length: WORKERS },
    () => spawn(["run", "-A", ...PROF, SELF, "raw-worker", url, name]),
  );
  for (const p of ps) drain(await waitLine(p, /ready/));
  const queue = new Queue(name, { connection: redisConnection(url) });
  // From the stream's start (the queue is new): a stream read issued after the first events
  // were written would miss them otherwise, and the round would wait forever.
  const events = new QueueEvents(name, { connection: redisConnection(url), lastEventId: "0" });
  await events.waitUntilReady();
  let done = 0;
  const all = new Promise<void>((r) => events.on("completed", () => ++done === JOBS && r()));
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const others0 = cpuNow(ps);
  await queue.addBulk(Array.from({ length: JOBS }, (_, i) => ({ name: "j", data: { i } })));
  await all;
  const rate = JOBS / ((performance.now() - t0) / 1000);
  verbose("raw", performance.now() - t0, cpu0, others0, ps);
  await events.close();
  await queue.close();
  await stopAll(ps);
  return rate;
}

/**
 * One flowyml round. Every round gets an empty artifact store and metadata
 * database, so each step really writes its output (a warm store would skip
 * the writes: identical content is stored once).
 */
async function flowymlRound(
  redisUrl: string,
  dir: string,
  round: string,
  pipeline: Pipeline,
): Promise<number> {
  const yaml = stackYaml(redisUrl, `${dir}/${round}`);
  const config = `${dir}/flowyml-${round}.yaml`;
  await Deno.writeTextFile(config, yaml);
  const ps = Array.from(
    { length: WORKERS },
    (_, i) =>
      spawn([
        "run",
        "-A",
        ...PROF,
        WORKER_MAIN,
        "worker",
        "--inherit-permissions", // the queue's own throughput, as before the worker boundary
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
  await stack.metadataStore.validate(); // open and migrate before timing, like raw's connections
  await stack.artifactStore.validate();
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const others0 = cpuNow(ps);
  const at: Record<string, number> = {};
  const res = await pipeline.run({
    stack,
    loadOutputs: false, // as `flowyml run` does: results stay in the store, like raw job results
    onEvent: (e) => {
      const t = performance.now() - t0;
      if (e.type === "step_started") at.firstStart ??= t;
      else if (e.type === "step_finished") at.lastFinish = t;
    },
  });
  const wall = performance.now() - t0;
  const rate = JOBS / (wall / 1000);
  verbose("flowyml", wall, cpu0, others0, ps);
  if (Deno.env.get("BENCH_VERBOSE")) {
    console.log(
      `    flowyml phases: run set up ${at.firstStart.toFixed(0)} ms, steps ${
        (at.lastFinish - at.firstStart).toFixed(0)
      } ms, results ${(wall - at.lastFinish).toFixed(0)} ms`,
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
    spawn([
      "run",
      "-A",
      WORKER_MAIN,
      "worker",
      "--inherit-permissions",
      "--stack",
      "cluster",
      "--id",
      id,
    ], {
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

function med(a: number[]): number {
  return [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
}

/** Figures of the throughput rounds: raw BullMQ, and flowyml with its stores on each folder. */
interface Rounds {
  raw: number[];
  fly: Map<string, number[]>;
}

function printThroughput({ raw, fly }: Rounds): void {
  console.log(`throughput (median of ${ROUNDS}): raw BullMQ ${med(raw).toFixed(0)} jobs/s`);
  for (const [where, f] of fly) {
    const ratio = med(f) / med(raw);
    const paired = med(f.map((v, i) => v / raw[i]));
    const target = where === "disk" ? ` (target >= 80%) ${ratio >= 0.8 ? "OK" : "MISSED"}` : "";
    console.log(
      `  flowyml, stores on ${where}: ${med(f).toFixed(0)} steps/s = ${
        (ratio * 100).toFixed(0)
      }% ` +
        `of raw (median of per-round ratios ${(paired * 100).toFixed(0)}%)${target}`,
    );
  }
}

/** Raw BullMQ, then flowyml on each store folder, `ROUNDS` times (after `WARMUP` rounds). */
async function throughput(redisUrl: string, dirs: Map<string, string>): Promise<Rounds> {
  const pipeline = (await import(STEPS_MODULE)).default as Pipeline;
  for (let r = 0; r < WARMUP; r++) {
    await rawRound(redisUrl, -1 - r);
    for (const dir of dirs.values()) await flowymlRound(redisUrl, dir, `warmup${r}`, pipeline);
  }
  const out: Rounds = { raw: [], fly: new Map([...dirs.keys()].map((k) => [k, []])) };
  for (let r = 0; r < ROUNDS; r++) {
    const raw = await rawRound(redisUrl, r);
    out.raw.push(raw);
    const line = [`  round ${r + 1}: raw BullMQ ${raw.toFixed(0)} jobs/s`];
    for (const [where, dir] of dirs) {
      const f = await flowymlRound(redisUrl, dir, `round${r}`, pipeline);
      out.fly.get(where)!.push(f);
      line.push(`${where} ${f.toFixed(0)} steps/s = ${(f / raw * 100).toFixed(0)}%`);
    }
    console.log(line.join(", "));
  }
  return out;
}

/** `BENCH_JSON=file`: the medians, for bench/quick.ts. */
async function writeJson(r: Rounds): Promise<void> {
  const file = Deno.env.get("BENCH_JSON");
  if (!file || !ROUNDS) return;
  const disk = r.fly.get("disk");
  const tmpfs = r.fly.get("tmpfs");
  await Deno.writeTextFile(
    file,
    JSON.stringify({
      rawJobsPerSec: med(r.raw),
      flowymlStepsPerSec: med(disk ?? tmpfs!),
      ...(disk ? { diskStepsPerSec: med(disk) } : {}),
      ...(tmpfs ? { tmpfsStepsPerSec: med(tmpfs) } : {}),
    }),
  );
}

/** The bench's flowyml.yaml; `extra` adds orchestrator options. */
function stackYaml(redisUrl: string, dir: string, extra = ""): string {
  return `stacks:
  cluster:
    orchestrator: { type: queue, redis: "${redisUrl}", concurrency: ${CONCURRENCY}, maxInFlight: ${JOBS}, preload: ["${STEPS_MODULE}"]${extra} }
    artifact_store: { type: local, path: ${dir}/artifacts }
    metadata_store: { type: sqlite, path: ${dir}/meta.db }
`;
}

async function main(): Promise<void> {
  const redis = await startRedis();
  redisPid = redis.pid();
  const dirs = new Map<string, string>();
  try {
    await Deno.mkdir(DISK_DIR, { recursive: true });
    dirs.set("disk", await Deno.makeTempDir({ dir: DISK_DIR, prefix: "flowyml-qbench-" }));
    if (TMPFS_DIR) {
      dirs.set("tmpfs", await Deno.makeTempDir({ dir: TMPFS_DIR, prefix: "flowyml-qbench-" }));
    }
    console.log(
      `queue bench: ${JOBS} jobs/steps, ${WORKERS} worker processes x concurrency ${CONCURRENCY}` +
        ` (${WARMUP} warm-up round(s) of each not counted; stores in ${
          [...dirs].map(([k, v]) => `${v} (${k})`).join(" and ")
        })`,
    );
    // Throughput: BullMQ's default lock and stall settings on both sides, like the raw workers.
    const rounds = await throughput(redis.url, dirs);
    if (ROUNDS > 0) printThroughput(rounds);
    await writeJson(rounds);
    if (Deno.env.get("BENCH_NO_RESTART") || Deno.env.get("BENCH_QUICK")) return;
    await printRestart(redis.url, dirs.get("disk")!);
  } finally {
    await redis.stop();
    for (const d of dirs.values()) await Deno.remove(d, { recursive: true }).catch(() => {});
  }
}

async function printRestart(redisUrl: string, dir: string): Promise<void> {
  // A prefix of its own: BullMQ runs one stall check per queue per `stalledInterval` of the
  // worker that ran the last one, so workers with the 30 s default must not share the queue.
  const fast = stackYaml(
    redisUrl,
    dir,
    ", lockDurationMs: 2000, stalledIntervalMs: 1000, prefix: restartbench",
  );
  const config = `${dir}/flowyml.yaml`;
  await Deno.writeTextFile(config, fast);
  const lat: number[] = [];
  for (let r = 0; r < 2; r++) lat.push(await restartLatency(fast, config, dir));
  const worst = Math.max(...lat);
  console.log(
    `restart after kill -9 (lockDurationMs 2000, stalledIntervalMs 1000): ` +
      `${lat.map((l) => (l / 1000).toFixed(2)).join(" s, ")} s; worst ${
        (worst / 1000).toFixed(2)
      } s ` +
      `(target <= 5 s) ${worst <= 5000 ? "OK" : "MISSED"}`,
  );
}
