/**
 * Remote artifact store bench, against a real S3 server (Swift s3api,
 * started here on 127.0.0.1):
 *
 * 1. a 100 MiB artifact saved and loaded through MinIOArtifactStore vs the
 *    raw minio client's putObject + getObject, side by side (target ≤ 1.2×);
 * 2. peak RSS while streaming a 1 GiB artifact up and down (target < 256 MiB);
 * 3. a chain of 200 steps with small outputs on a `minio` stack (SQLite
 *    metadata), `inline_small_outputs` on vs off: wall time of the run.
 *
 * Run: `deno run -A bench/remote_bench.ts [--reps 3] [--skip-1g] [--small-only]`
 * @module
 */
import { Buffer } from "node:buffer";
import * as Minio from "minio";
import { type S3Server, startS3 } from "../tests/services/s3.ts";
import { MinIOArtifactStore } from "../plugins/s3/store.ts";
import { buildStack, parseConfig, Pipeline, step } from "../mod.ts";

const args = Deno.args;
const reps = Number(args[args.indexOf("--reps") + 1]) || 3;
const skip1g = args.includes("--skip-1g");
const smallOnly = args.includes("--small-only");
const CHAIN = 200;
/** Internal: `--stream-1g <endpoint> <access> <secret>` measures only the 1 GiB stream (fresh process). */
const streamOnly = args.indexOf("--stream-1g");
const MiB = 1 << 20;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function drain(s: AsyncIterable<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const c of s) n += c.byteLength;
  return n;
}

async function stream1g(store: MinIOArtifactStore): Promise<void> {
  const total = 1024 * MiB;
  let peak = Deno.memoryUsage().rss;
  const base = peak;
  const timer = setInterval(() => (peak = Math.max(peak, Deno.memoryUsage().rss)), 20);
  const chunk = new Uint8Array(MiB);
  crypto.getRandomValues(chunk.subarray(0, 65536));
  let sent = 0;
  const src = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent >= total) return c.close();
      sent += chunk.length;
      c.enqueue(chunk.slice());
    },
  });
  let t = performance.now();
  const up = await store.writeStream("store/1g", src);
  const upMs = performance.now() - t;
  t = performance.now();
  const down = await drain(await store.readStream("store/1g"));
  const downMs = performance.now() - t;
  clearInterval(timer);
  peak = Math.max(peak, Deno.memoryUsage().rss);
  if (up !== total || down !== total) {
    throw new Error(`1 GiB size mismatch: ${up} up, ${down} down`);
  }
  console.log(
    `1 GiB streamed through MinIOArtifactStore (8 MiB parts, 4 in flight): up ${
      (upMs / 1000).toFixed(1)
    } s, down ${(downMs / 1000).toFixed(1)} s`,
  );
  console.log(
    `  peak RSS ${(peak / MiB).toFixed(0)} MiB (process start ${
      (base / MiB).toFixed(0)
    } MiB); target < 256 MiB`,
  );
  await store.delete("store/1g");
}

/** Milliseconds of one run of a chain of {@linkcode CHAIN} steps, each output about 100 bytes. */
async function timeSmallChain(s3: S3Server, inline: boolean, db: string): Promise<number> {
  const yaml = `stacks:
  remote:
    artifact_store:
      type: minio
      endpoint: ${s3.endpoint}
      bucket: bench
      access_key: "${s3.accessKey}"
      secret_key: "${s3.secretKey}"
      inline_small_outputs: ${inline}
    metadata_store: { type: sqlite, path: ${db} }
`;
  const stack = await buildStack(parseConfig(yaml), "remote");
  try {
    const p = new Pipeline(`small${CHAIN}`, { stack, cache: false, concurrency: 1 });
    p.add(step({ name: "s0", outputs: ["v0"] }, () => ({ i: 0, note: "x".repeat(80) })));
    for (let i = 1; i < CHAIN; i++) {
      p.add(step(
        { name: `s${i}`, inputs: [`v${i - 1}`], outputs: [`v${i}`] },
        (x: Record<string, { i: number; note: string }>) => ({ ...x[`v${i - 1}`], i }),
      ));
    }
    const t = performance.now();
    const r = await p.run();
    const took = performance.now() - t;
    const last = r.steps[`s${CHAIN - 1}`]?.outputs[`v${CHAIN - 1}`];
    if (r.status !== "completed" || !last || !!last.inline !== inline) {
      throw new Error(`chain of ${CHAIN} (inline ${inline}): ${r.error ?? r.status}`);
    }
    return took;
  } finally {
    await stack.close();
  }
}

/** Row 3: the small-output chain, inline on vs off, alternating, after one warm-up of each. */
async function smallChainRow(s3: S3Server): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "flowyml-remote-bench-" });
  try {
    const on: number[] = [];
    const off: number[] = [];
    for (let r = 0; r < reps + 1; r++) {
      const offMs = await timeSmallChain(s3, false, `${dir}/off.db`);
      const onMs = await timeSmallChain(s3, true, `${dir}/on.db`);
      if (r === 0) continue; // warm-up
      off.push(offMs);
      on.push(onMs);
    }
    const runs = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(", ");
    console.log(`chain of ${CHAIN} steps, small outputs, minio stack + SQLite, median of ${reps}:`);
    console.log(
      `  inline_small_outputs: false   ${median(off).toFixed(0)} ms  (runs: ${runs(off)})`,
    );
    console.log(`  inline_small_outputs: true    ${median(on).toFixed(0)} ms  (runs: ${runs(on)})`);
    console.log(`  ratio off/on: ${(median(off) / median(on)).toFixed(2)}x`);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (streamOnly >= 0) {
  const [endpoint, access_key, secret_key] = args.slice(streamOnly + 1);
  const store = new MinIOArtifactStore({ endpoint, bucket: "bench", access_key, secret_key });
  await stream1g(store);
  store.close();
  Deno.exit(0);
}

const s3 = await startS3();
try {
  const raw = new Minio.Client({
    endPoint: s3.host,
    port: s3.port,
    useSSL: false,
    accessKey: s3.accessKey,
    secretKey: s3.secretKey,
    pathStyle: true,
    region: s3.region,
  });
  await raw.makeBucket("bench", s3.region);
  const store = new MinIOArtifactStore({
    endpoint: s3.endpoint,
    bucket: "bench",
    access_key: s3.accessKey,
    secret_key: s3.secretKey,
  });
  await store.validate();
  if (!smallOnly) {
    const data = new Uint8Array(100 * MiB);
    for (let i = 0; i < data.length; i += 65536) {
      crypto.getRandomValues(data.subarray(i, i + 65536));
    }
    const buf = Buffer.from(data.buffer);

    const rawTimes: number[] = [];
    const storeTimes: number[] = [];
    for (let r = 0; r < reps + 1; r++) {
      // Raw primitive: putObject + getObject (read fully).
      let t = performance.now();
      await raw.putObject("bench", "raw/100m", buf, buf.length);
      const n1 =
        Buffer.concat(await Array.fromAsync(await raw.getObject("bench", "raw/100m"))).length;
      const rawMs = performance.now() - t;
      // The store: writeBytes + readBytes.
      t = performance.now();
      await store.writeBytes("store/100m", data);
      const n2 = (await store.readBytes("store/100m")).length;
      const storeMs = performance.now() - t;
      if (n1 !== data.length || n2 !== data.length) throw new Error("size mismatch");
      if (r === 0) continue; // warm-up
      rawTimes.push(rawMs);
      storeTimes.push(storeMs);
    }
    const rawMed = median(rawTimes);
    const storeMed = median(storeTimes);
    console.log(`100 MiB save+load, median of ${reps} (after a warm-up):`);
    console.log(
      `  raw minio putObject+getObject   ${rawMed.toFixed(0)} ms  (runs: ${
        rawTimes.map((x) => x.toFixed(0)).join(", ")
      })`,
    );
    console.log(
      `  MinIOArtifactStore write+read   ${storeMed.toFixed(0)} ms  (runs: ${
        storeTimes.map((x) => x.toFixed(0)).join(", ")
      })`,
    );
    console.log(`  ratio store/raw: ${(storeMed / rawMed).toFixed(2)}x (target <= 1.2x)`);

    if (!skip1g) {
      // A fresh process, so the 100 MiB buffers above do not count in its RSS.
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          new URL(import.meta.url).pathname,
          "--stream-1g",
          s3.endpoint,
          s3.accessKey,
          s3.secretKey,
        ],
        stdout: "inherit",
        stderr: "inherit",
      }).output();
      if (!out.success) throw new Error("1 GiB streaming run failed");
    }
  }
  await smallChainRow(s3);
  store.close();
} finally {
  await s3.stop();
}
