/**
 * Process isolation (issue 9): each hostile class really runs, is contained
 * by an OS-enforced limit (cgroup memory/pids or the watchdog, V8 heap cap,
 * SIGKILL deadline), the step fails naming the limit, the kernel's RSS and
 * CPU stay put, no plugin process is left, and the next pipeline works.
 * @module
 */
import assert from "node:assert/strict";
import { Pipeline, type Stack, step } from "../../mod.ts";
import {
  closePluginHosts,
  configurePlugins,
  forceLimitMode,
  invokePlugin,
  limitMode,
  loadPlugin,
  parsePluginConfig,
  pluginHost,
  pluginStep,
  resolvePluginConfig,
} from "../../kernel/sandbox/mod.ts";
import { pluginPermissions } from "../../kernel/sandbox/host_needs.ts";
import { setPrepareBudget } from "../../kernel/sandbox/prepare.ts";
import { INSTRUMENT_VERSION } from "../../kernel/sandbox/instrument.ts";
import { sha256Hex } from "../../kernel/hash.ts";
import {
  childPids,
  cpuLoad,
  echoWat,
  IMPORTS,
  pluginEntry,
  rssBytes,
  type StackCtx as Ctx,
  wat,
  watString,
  withTempStack,
} from "./_fixtures.ts";
import { tempDir } from "../_helpers.ts";

const MiB = 1024 ** 2;
const RAW = new Uint8Array([5, 6, 7, 8]);
const LOG = '{"v":1,"op":"log","message":"tick"}';
/** WAT: send a `log` request (proof the attack is running). */
const tick = `(drop (call $call (i32.const 60000) (i32.const ${LOG.length})))`;
const tickData = `(data (i32.const 60000) "${watString(LOG)}")`;

const withStack = (fn: (c: Ctx) => Promise<void>) => withTempStack("flowyml-isolation-", fn);

function pipeline(stack: Stack, plugin: string, input: Uint8Array = RAW) {
  return new Pipeline(`iso_${plugin}`, { stack, cache: false })
    .add(step({ name: "load", outputs: ["raw"] }, () => input))
    .add(pluginStep(plugin, { name: "plug", inputs: ["raw"], outputs: ["out"] }));
}

/**
 * Run `bytes` as plugin `name` (with `grants`) in a pipeline; it must fail
 * with `message`, after having logged at least `minTicks` times; then the
 * kernel must be unharmed and the next pipeline must work.
 */
async function contained(
  c: Ctx,
  name: string,
  bytes: Uint8Array,
  grants: Record<string, unknown>,
  message: RegExp,
  opts: { minTicks?: number; input?: Uint8Array } = {},
): Promise<string> {
  configurePlugins({
    [name]: await pluginEntry(c.dir, name, bytes, grants),
    echo_ok: await pluginEntry(c.dir, "echo_ok", await wat(echoWat())),
  });
  // Warm up the kernel (modules, first host process) so RSS compares like with like.
  assert.equal((await pipeline(c.stack, "echo_ok").run()).status, "completed");
  const rss0 = rssBytes();
  const r = await pipeline(c.stack, name, opts.input).run();
  assert.equal(r.status, "failed");
  const msg = r.error!.message;
  assert.match(msg, new RegExp(`plugin "${name}"`), msg);
  assert.match(msg, message, msg);
  // The attack really ran: its log requests are in the audit trail.
  const audit = await c.stack.metadataStore.listAudit(r.runId);
  const ticks = audit.filter((e) => e.op === "log").reduce(
    (n, e) => n + Number(/^aggregated: (\d+)/.exec(e.detail ?? "")?.[1] ?? 1),
    0,
  );
  assert.ok(ticks >= (opts.minTicks ?? 1), `the attack logged ${ticks} times`);
  // The kernel is unharmed: RSS bounded, CPU idle within 1 s, no process left spinning.
  const grown = rssBytes() - rss0;
  assert.ok(grown < 64 * MiB, `kernel RSS grew ${(grown / MiB).toFixed(0)} MiB`);
  await new Promise((res) => setTimeout(res, 200));
  const load = await cpuLoad(800);
  assert.ok(load < 0.3, `kernel process used ${load.toFixed(2)} cores after the attack`);
  // The next pipeline in the same kernel works.
  const ok = await pipeline(c.stack, "echo_ok").run();
  assert.equal(ok.status, "completed", ok.error?.message ?? "");
  assert.deepEqual([...(ok.outputs.out as Uint8Array)], [...RAW]);
  return msg;
}

const EXTISM = `
 (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
 (import "extism:host/env" "free" (func $free (param i64)))
 (import "extism:host/env" "store_u64" (func $store_u64 (param i64 i64)))
 (import "extism:host/env" "var_set" (func $var_set (param i64 i64)))`;

/** Extism var_set: every value copied into a host-side var that outlives the block. */
const VARS = `(module ${IMPORTS} ${EXTISM} (memory (export "memory") 1) ${tickData}
 (func (export "run") (result i32) (local $i i64) (local $k i64) (local $v i64)
  (loop $l
   (local.set $k (call $alloc (i64.const 8)))
   (call $store_u64 (local.get $k) (i64.add (i64.const 0x3030303030303030) (local.get $i)))
   (local.set $v (call $alloc (i64.const 1048576)))
   (call $var_set (local.get $k) (local.get $v))
   (call $free (local.get $v))
   (if (i64.eqz (i64.rem_u (local.get $i) (i64.const 16))) (then ${tick}))
   (local.set $i (i64.add (local.get $i) (i64.const 1)))
   (br $l))
  (i32.const 0)))`;

/** Extism alloc: blocks that are never freed. */
const ALLOCS = `(module ${IMPORTS} ${EXTISM} (memory (export "memory") 1) ${tickData}
 (func (export "run") (result i32) (local $i i64)
  (loop $l
   (drop (call $alloc (i64.const 1048576)))
   (if (i64.eqz (i64.rem_u (local.get $i) (i64.const 16))) (then ${tick}))
   (local.set $i (i64.add (local.get $i) (i64.const 1)))
   (br $l))
  (i32.const 0)))`;

/** externref tables grown to V8's maximum, 16 of them (~1.3 GB of host heap). */
const TABLES = `(module ${IMPORTS} (memory (export "memory") 1) ${tickData}
 ${Array.from({ length: 16 }, (_, i) => `(table $t${i} 0 externref)`).join(" ")}
 (func (export "run") (result i32) (local $i i32)
  ${
  Array.from({ length: 16 }, (_, i) =>
    `(loop $l${i} ${tick}
      (br_if $l${i} (i32.ne (table.grow $t${i} (ref.null extern) (i32.const 1000000)) (i32.const -1))))`)
    .join("\n")
}
  (i32.const 0)))`;

const EMPTY_OUT = '{"outputs":{"out":{"json":0}}}';

Deno.test("limits are enforced by the OS here (cgroups as root on CI)", () => {
  const mode = limitMode();
  if (Deno.env.get("CI") === "true" && Deno.uid() === 0) assert.notEqual(mode, "watchdog");
  assert.match(mode, /^(cgroup-v1|cgroup-v2|watchdog|in-process)$/);
});

Deno.test("Extism var_set and alloc hoarding: killed at the memory grant; kernel unharmed", async () => {
  await withStack(async (c) => {
    await contained(
      c,
      "var_hoarder",
      await wat(VARS),
      { memory: "16Mi" },
      // Extism's var cap (maxVarBytes = the grant) refuses the 17th MiB: one tick at most.
      /exceeded its memory grant of 16 MiB: Extism refused: var memory limit exceeded/,
    );
    await contained(
      c,
      "alloc_hoarder",
      await wat(ALLOCS),
      { memory: "16Mi" },
      /exceeded its memory grant of 16 MiB|memory/,
    );
  });
});

Deno.test("externref tables: stopped by the heap cap or memory limit; kernel unharmed", async () => {
  await withStack(async (c) => {
    await contained(
      c,
      "tabler",
      await wat(TABLES),
      { memory: "16Mi" },
      /exceeded its memory grant of 16 MiB/,
      { minTicks: 2 },
    );
  });
});

Deno.test("linear memory bomb: stopped at its cap; kernel unharmed", async () => {
  await withStack(async (c) => {
    const bomb = await wat(`(module ${IMPORTS} (memory (export "memory") 1) ${tickData}
      (func (export "run") (result i32)
        (loop $l ${tick} (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
        unreachable))`);
    await contained(
      c,
      "bomb",
      bomb,
      { memory: "32Mi" },
      /exceeded its memory grant of 32 MiB: linear memory reached its cap/,
      { minTicks: 10 },
    );
  });
});

Deno.test("infinite loop and slow host calls: killed at the deadline, no thread left", async () => {
  await withStack(async (c) => {
    const loop = await wat(`(module ${IMPORTS} (memory (export "memory") 1) ${tickData}
      (func (export "run") (result i32) (local $i i32) ${tick}
        (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $l)) (i32.const 0)))`);
    await contained(c, "spinner", loop, { timeout: "1s" }, /exceeded its timeout of 1000 ms/);
    // Each iteration copies 1 MiB in a host call: the loop-count interrupt comes far too late,
    // the SIGKILL at the deadline does not.
    const slow = await wat(`(module ${IMPORTS} (memory (export "memory") 20) ${tickData}
      (func (export "run") (result i32) (local $i i32) ${tick}
        (loop $l (drop (call $read (i32.const 1) (i64.const 0) (i32.const 65536) (i32.const 1048576)))
          (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $l)) (i32.const 0)))`);
    const t0 = performance.now();
    const msg = await contained(
      c,
      "slowcalls",
      slow,
      { timeout: "1s" },
      /exceeded its timeout of 1000 ms/,
      {
        input: new Uint8Array(MiB),
      },
    );
    assert.match(msg, /process was killed|interrupted/);
    assert.ok(performance.now() - t0 < 10_000);
    // Only the live host processes (and the spare) remain; after closing, none.
    await closePluginHosts();
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(childPids(), []);
  });
});

Deno.test("a process killed mid-call is replaced; a host call loop of thousands of requests works", async () => {
  await withStack(async (c) => {
    configurePlugins({
      spinner2: await pluginEntry(
        c.dir,
        "spinner2",
        await wat(`(module ${IMPORTS}
      (memory (export "memory") 1) (func (export "run") (result i32) (loop $l (br $l)) (i32.const 0)))`),
        { timeout: "300ms" },
      ),
    });
    const cfg = await resolvePluginConfig("spinner2");
    const host = await pluginHost("spinner2", cfg);
    const pid = host.pid!;
    const ac = new AbortController();
    const p = invokePlugin("spinner2", "run", {
      input: {},
      runId: "r",
      config: cfg,
      signal: ac.signal,
    });
    setTimeout(() => ac.abort(new Error("stop")), 100);
    await assert.rejects(p, /stop/);
    assert.ok(
      !Deno.readDirSync("/proc").some((e) => e.name === String(pid)) ||
        /Z/.test(Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1][0]),
    );
    await assert.rejects(
      invokePlugin("spinner2", "run", { input: {}, runId: "r", config: cfg }),
      /exceeded its timeout of 300 ms/,
    );
    assert.notEqual(host.pid, pid, "a fresh process replaced the killed one");
  });
});

Deno.test("hoarding artifact handles: refused or killed at the memory grant; the kernel keeps none", async () => {
  await withStack(async (c) => {
    await c.stack.artifactStore.writeBytes("datasets/big.bin", new Uint8Array(8 * MiB).fill(1));
    const REQ = '{"v":1,"op":"artifacts.get","path":"datasets/big.bin"}';
    const hoard = await wat(`(module ${IMPORTS} (memory (export "memory") 1) ${tickData}
      (data (i32.const 0) "${watString(REQ)}")
      (func (export "run") (result i32) (local $i i32)
        (loop $l ${tick}
          (drop (call $call (i32.const 0) (i32.const ${REQ.length})))
          (call $response (i32.const 4096))
          (if (i32.eq (i32.load8_u (i32.const 4102)) (i32.const 102)) (then unreachable))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 100))))
        (i32.const 0)))`);
    const msg = await contained(
      c,
      "hoarder",
      hoard,
      { memory: "32Mi", artifacts: { read: ["datasets/*"] } },
      /memory grant|denied/,
      { minTicks: 2 },
    );
    assert.match(msg, /32 MiB|33554432/);
  });
});

Deno.test("Binaryen poison (a huge number of locals): prepared off the event loop, within budget, failure cached", async () => {
  const t = await tempDir();
  try {
    const n = 20_000;
    const locals = Array.from({ length: n }, (_, i) => `(local $l${i} i32)`).join(" ");
    const body = Array.from(
      { length: n - 1 },
      (_, i) => `(local.set $l${i + 1} (i32.add (local.get $l${i}) (i32.const 1)))`,
    ).join(" ");
    const bytes = await wat(`(module (memory (export "memory") 1)
      (func (export "run") (result i32) ${locals} ${body} (loop $x (br_if $x (local.get $l${
      n - 1
    }))) (i32.const 0)))`);
    const cfg = parsePluginConfig("poison", await pluginEntry(t.path, "poison", bytes));
    setPrepareBudget({ timeoutMs: 300 });
    let ticks = 0;
    let worst = 0;
    let last = performance.now();
    const iv = setInterval(() => {
      worst = Math.max(worst, performance.now() - last);
      last = performance.now();
      ticks++;
    }, 10);
    const t0 = performance.now();
    await assert.rejects(
      loadPlugin("poison", cfg, { cacheDir: t.path }),
      /plugin "poison" .*could not be prepared: instrumentation exceeded its time budget of 300 ms/,
    );
    clearInterval(iv);
    assert.ok(ticks > 5 && worst < 250, `event loop stalled ${worst.toFixed(0)} ms`);
    assert.ok(performance.now() - t0 < 5000);
    // The failure is cached by pin + instrumenter version: the next load fails at once.
    const pin = sha256Hex(bytes);
    const m = JSON.parse(
      await Deno.readTextFile(`${t.path}/prepared/${pin}-i${INSTRUMENT_VERSION}.json`),
    );
    assert.match(m.failed, /time budget/);
    const { clearCompiledPlugins } = await import("../../kernel/sandbox/mod.ts");
    clearCompiledPlugins();
    const t1 = performance.now();
    await assert.rejects(loadPlugin("poison", cfg, { cacheDir: t.path }), /cached; delete/);
    assert.ok(performance.now() - t1 < 200);
  } finally {
    setPrepareBudget();
    await t.cleanup();
  }
});

Deno.test("a tampered prepared module is never run: it fails its manifest check and is prepared again", async () => {
  const t = await tempDir();
  try {
    const loop = await wat(`(module (memory (export "memory") 1)
      (func (export "run") (result i32) (loop $l (br $l)) (i32.const 0)))`);
    const cfg = parsePluginConfig(
      "tamper",
      await pluginEntry(t.path, "tamper", loop, { timeout: "300ms" }),
    );
    const { clearCompiledPlugins } = await import("../../kernel/sandbox/mod.ts");
    await loadPlugin("tamper", cfg, { cacheDir: t.path });
    const path = `${t.path}/prepared/${sha256Hex(loop)}-i${INSTRUMENT_VERSION}.wasm`;
    const good = await Deno.readFile(path);
    // Pipeline code swaps in the uninstrumented bytes (as if it could write the cache).
    await Deno.writeFile(path, loop);
    clearCompiledPlugins();
    const loaded = await loadPlugin("tamper", cfg, { cacheDir: t.path });
    assert.notDeepEqual(loaded.bytes, loop);
    assert.deepEqual(await Deno.readFile(path), good, "the cache was repaired");
    // It runs instrumented: the cooperative interrupt stops it (no kill needed).
    await assert.rejects(
      invokePlugin("tamper", "run", { input: {}, runId: "r", config: cfg }),
      /exceeded its timeout of 300 ms \(interrupted/,
    );
    // The pipeline child may read the cache but never write it.
    const perms = pluginPermissions(cfg);
    assert.ok(perms.read!.some((p) => p.endsWith("plugins")));
    assert.ok(!(perms.write ?? []).some((p) => p.includes("plugins")), JSON.stringify(perms.write));
    assert.deepEqual(perms.run, [Deno.execPath()]);
  } finally {
    await closePluginHosts();
    await t.cleanup();
  }
});

Deno.test("watchdog fallback (no cgroups): memory attacks are still contained", async () => {
  forceLimitMode("watchdog");
  try {
    await withStack(async (c) => {
      await contained(
        c,
        "wd_hoarder",
        await wat(ALLOCS), // VARS stops at Extism's var cap before any watchdog sample
        { memory: "16Mi" },
        /exceeded its memory grant of 16 MiB/,
      );
    });
  } finally {
    forceLimitMode(undefined);
  }
});

Deno.test("plugin host processes hold no permissions", async () => {
  await withStack(async (c) => {
    // A plugin cannot ask its host for files; the host process itself could not read them either.
    const { hostProcessArgs } = await import("../../kernel/sandbox/mod.ts");
    const args = hostProcessArgs(64);
    assert.deepEqual(args.filter((a) => a.startsWith("--allow")), [
      "--allow-env=EXTISM_ENABLE_WASI_OUTPUT,__MINIMATCH_TESTING_PLATFORM__",
    ]);
    configurePlugins({
      ok: await pluginEntry(
        c.dir,
        "ok",
        await wat(`(module ${IMPORTS}
      (memory (export "memory") 1) (data (i32.const 0) "${watString(EMPTY_OUT)}")
      (func (export "run") (result i32) (call $output (i32.const 0) (i32.const ${EMPTY_OUT.length})) (i32.const 0)))`),
      ),
    });
    const host = await pluginHost("ok", await resolvePluginConfig("ok"));
    const cmd = Deno.readTextFileSync(`/proc/${host.pid}/cmdline`).split("\0");
    assert.ok(
      !cmd.some((a) => /^--allow-(read|write|net|run|ffi|sys|all)|^-A$/.test(a)),
      cmd.join(" "),
    );
    const cg = Deno.readTextFileSync(`/proc/${host.pid}/cgroup`);
    if (limitMode() === "cgroup-v1") assert.match(cg, /memory:\/flowyml\//);
  });
});
