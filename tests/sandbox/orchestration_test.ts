/**
 * WASM orchestrators (`orchestrator: { type: wasm }`): a sandboxed plugin
 * decides which step runs when through brokered `orchestration.submit` /
 * `orchestration.await` / `orchestration.status`; the kernel executes,
 * caches and records every step. Hostile schedulers are WAT fixtures.
 */
import assert from "node:assert/strict";
import { buildStack, parseConfig, Pipeline, type Stack, step } from "../../mod.ts";
import { executeRun } from "../../kernel/engine.ts";
import type { StepScheduler } from "../../kernel/scheduling.ts";
import { runStepTask } from "../../kernel/step_runner.ts";
import { Broker } from "../../kernel/sandbox/broker.ts";
import {
  closePluginHosts,
  configurePlugins,
  denyAll,
  pluginHost,
  resolvePluginConfig,
} from "../../kernel/sandbox/mod.ts";
import { WasmOrchestrator } from "../../plugins/wasm/mod.ts";
import { sha256Hex } from "../../kernel/hash.ts";
import { IMPORTS, pluginEntry, wat, watString } from "./_fixtures.ts";
import { tempDir } from "../_helpers.ts";
import { flowyml } from "../kernel/_cli.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const SCHED_WASM = `${ROOT}examples/plugins/priority_scheduler/priority_scheduler.wasm`;

/** A local stack in `dir` whose orchestrator is WASM plugin `plugin`. */
async function wasmStack(dir: string, plugin: string, concurrency = 4): Promise<Stack> {
  const config = parseConfig(`
stacks:
  t:
    orchestrator: { type: wasm, plugin: ${plugin}, concurrency: ${concurrency} }
    artifact_store: { type: local, path: ${dir}/artifacts }
    metadata_store: { type: sqlite, path: ${dir}/metadata.db }
`);
  return await buildStack(config, "t");
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const t = await tempDir("flowyml-orch-");
  try {
    await fn(t.path);
  } finally {
    await closePluginHosts();
    await t.cleanup();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * load → feat_a (priority 1), feat_b (priority 5), feat_c (priority 3) → train.
 * Every step body appends its name to `started` and tracks how many run at once.
 */
function dag(stack: Stack, started: string[], live = { now: 0, max: 0 }, stepMs = 60) {
  const body = (name: string, f: (x: Record<string, number>) => number) =>
  async (
    x: Record<string, number>,
  ) => {
    started.push(name);
    live.max = Math.max(live.max, ++live.now);
    await sleep(stepMs);
    live.now--;
    return f(x);
  };
  const feat = (n: string, prio: number, k: number) =>
    step(
      {
        name: n,
        inputs: ["raw"],
        outputs: [n.slice(5)],
        resources: { labels: [`priority=${prio}`] },
      },
      body(n, ({ raw }) => raw * k),
    );
  return new Pipeline("dag", { stack })
    .add(step({ name: "load", outputs: ["raw"] }, body("load", () => 2)))
    .add(feat("feat_a", 1, 10))
    .add(feat("feat_b", 5, 100))
    .add(feat("feat_c", 3, 1000))
    .add(
      step(
        { name: "train", inputs: ["a", "b", "c"], outputs: ["model"] },
        body("train", ({ a, b, c }) => a + b + c),
      ),
    );
}

Deno.test("priority_scheduler drives a DAG: start order follows priority, max_parallel holds, cache hits on rerun", async () => {
  await withDir(async (dir) => {
    const bytes = await Deno.readFile(SCHED_WASM);
    configurePlugins({
      priority_scheduler: {
        source: SCHED_WASM,
        sha256: sha256Hex(bytes),
        grants: {
          orchestration: true,
          config: { max_parallel: 2, priority_label: "priority" },
          timeout: "60s",
        },
      },
    });
    const stack = await wasmStack(dir, "priority_scheduler");
    try {
      assert.ok(stack.orchestrator instanceof WasmOrchestrator);
      assert.equal(await stack.orchestrator.validate(), true);
      const started: string[] = [];
      const live = { now: 0, max: 0 };
      const r = await dag(stack, started, live).run();
      assert.equal(r.status, "completed", r.error?.message ?? "");
      assert.equal(r.outputs.model, 2 * 10 + 2 * 100 + 2 * 1000);
      // Highest priority first among ready steps, at most 2 running at a time.
      assert.deepEqual(started, ["load", "feat_b", "feat_c", "feat_a", "train"]);
      assert.equal(live.max, 2);
      const steps = await stack.metadataStore.listStepRuns(r.runId);
      assert.deepEqual(steps.map((s) => s.status).sort(), Array(5).fill("completed"));
      // Lineage is recorded by the engine exactly as for the local orchestrator.
      const lineage = await stack.metadataStore.getLineage({ runId: r.runId });
      assert.equal(lineage.filter((e) => e.direction === "output").length, 5);
      assert.equal(lineage.filter((e) => e.direction === "input").length, 6);
      // Every submit and await is in the audit trail, allowed.
      const audit = await stack.metadataStore.listAudit(r.runId);
      const submits = audit.filter((e) => e.op === "orchestration.submit");
      assert.deepEqual(submits.map((e) => e.resource), started);
      assert.ok(submits.every((e) => e.allowed));
      const awaits = audit.filter((e) => e.op === "orchestration.await");
      assert.ok(awaits.length >= 5, JSON.stringify(awaits));
      assert.deepEqual(
        [
          ...new Set(
            awaits.filter((e) => /: completed$/.test(e.detail ?? "")).map((e) => e.resource),
          ),
        ]
          .sort(),
        [...started].sort(),
      );
      assert.ok(audit.some((e) => e.op === "call" && e.resource === "schedule" && e.allowed));
      assert.deepEqual(audit.filter((e) => !e.allowed), []);

      // Second run: the scheduler submits every step again; all are cache hits.
      const again: string[] = [];
      const r2 = await dag(stack, again).run();
      assert.equal(r2.status, "completed", r2.error?.message ?? "");
      assert.deepEqual(again, []);
      assert.ok(Object.values(r2.steps).every((s) => s.status === "cached"));
      assert.equal(r2.outputs.model, 2220);
    } finally {
      await stack.close();
    }
  });
});

/** A `schedule` export sending each request in turn; traps on `{"ok":false`; then `tail`. */
function schedulerWat(requests: string[], tail = ""): string {
  let data = "";
  let off = 0;
  const calls: string[] = [];
  for (const r of requests) {
    const n = new TextEncoder().encode(r).length;
    data += ` (data (i32.const ${off}) "${watString(r)}")`;
    calls.push(`(drop (call $call (i32.const ${off}) (i32.const ${n})))
      (call $response (i32.const 32768))
      (if (i32.eq (i32.load8_u (i32.const 32774)) (i32.const 102)) (then unreachable))`);
    off += n + 8;
  }
  return `(module ${IMPORTS}
 (memory (export "memory") 4)
 ${data}
 (func (export "schedule") (result i32) (local $i i32)
  ${calls.join("\n  ")}
  ${tail}
  (i32.const 0)))`;
}

const submit = (s: string) => `{"v":1,"op":"orchestration.submit","step":"${s}"}`;
const wait = (t: string, ms?: number) =>
  `{"v":1,"op":"orchestration.await","ticket":"${t}"${
    ms === undefined ? "" : `,"timeout_ms":${ms}`
  }}`;
const LOOP = `(loop $l (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $l))`;

/** load → feat → train, with `load` taking `loadMs`. */
function chain(stack: Stack, loadMs = 0) {
  return new Pipeline("chain", { stack, cache: false })
    .add(step({ name: "load", outputs: ["raw"] }, async () => {
      await sleep(loadMs);
      return 1;
    }))
    .add(step({ name: "feat", inputs: ["raw"], outputs: ["f"] }, ({ raw }) => raw + 1))
    .add(step({ name: "train", inputs: ["f"], outputs: ["m"] }, ({ f }) => f * 2));
}

/** Configure WAT scheduler `name`, run `chain` on a stack it orchestrates. */
async function runScheduler(
  dir: string,
  name: string,
  src: string,
  grants: Record<string, unknown>,
  loadMs = 0,
) {
  configurePlugins({ [name]: await pluginEntry(dir, name, await wat(src), grants) });
  const stack = await wasmStack(`${dir}/${name}`, name);
  const t0 = performance.now();
  const r = await chain(stack, loadMs).run();
  const ms = performance.now() - t0;
  const steps = Object.fromEntries(
    (await stack.metadataStore.listStepRuns(r.runId)).map((s) => [s.step, s]),
  );
  const audit = await stack.metadataStore.listAudit(r.runId);
  const artifacts = await stack.metadataStore.listArtifacts(r.runId);
  const run = await stack.metadataStore.getRun(r.runId);
  return { r, ms, steps, audit, artifacts, run, stack };
}

const GOOD = schedulerWat([
  submit("load"),
  wait("t1"),
  submit("feat"),
  wait("t2"),
  submit("train"),
  wait("t3"),
]);

/** The kernel survived: a well-behaved scheduler runs the chain to completion. */
async function nextRunWorks(dir: string): Promise<void> {
  const ok = await runScheduler(dir, "good", GOOD, { orchestration: true });
  try {
    assert.equal(ok.r.status, "completed", ok.r.error?.message ?? "");
    assert.equal(ok.r.outputs.m, 4);
  } finally {
    await ok.stack.close();
  }
}

Deno.test("a scheduler without grants.orchestration is denied, audited, and nothing runs", async () => {
  await withDir(async (dir) => {
    const x = await runScheduler(dir, "ungranted", GOOD, {});
    try {
      assert.equal(x.r.status, "failed");
      assert.match(
        x.r.error!.message,
        /scheduler \(plugin "ungranted"\) failed: plugin "ungranted" was denied: orchestration.submit load: not granted \(grants.orchestration: false\)/,
      );
      const denied = x.audit.filter((e) => !e.allowed && e.op === "orchestration.submit");
      assert.deepEqual(denied.map((e) => [e.actor, e.resource]), [["ungranted", "load"]]);
      assert.deepEqual(Object.values(x.steps).map((s) => s.status), [
        "skipped",
        "skipped",
        "skipped",
      ]);
      assert.equal(x.artifacts.length, 0);
      assert.equal(x.run?.status, "failed");
    } finally {
      await x.stack.close();
    }
    await nextRunWorks(dir);
  });
});

Deno.test("submitting a step that is not ready is a structured error naming the upstream", async () => {
  await withDir(async (dir) => {
    const x = await runScheduler(dir, "eager", schedulerWat([submit("feat")]), {
      orchestration: true,
    });
    try {
      assert.equal(x.r.status, "failed");
      assert.match(
        x.r.error!.message,
        /plugin "eager" was denied: orchestration.submit feat: not ready: upstream "load" not completed/,
      );
      const ev = x.audit.find((e) => e.op === "orchestration.submit")!;
      assert.equal(ev.allowed, false);
      assert.match(ev.detail!, /not ready/);
      assert.equal(x.artifacts.length, 0);
    } finally {
      await x.stack.close();
    }
  });
});

Deno.test("protocol: submit/await/status answers and error codes, through the broker", async () => {
  await withDir(async (dir) => {
    const stack = await wasmStack(dir, "unused");
    const replies: Record<string, unknown>[] = [];
    let events: { op: string; resource: string; allowed: boolean }[] = [];
    const scheduler: StepScheduler = {
      name: "test",
      async run(ctl) {
        const broker = new Broker({
          plugin: "p",
          grants: { ...denyAll(), orchestration: true },
          runId: ctl.runId,
          orchestration: ctl,
        });
        const send = async (req: string) => {
          const res = await broker.handle(new TextEncoder().encode(req), new Uint8Array(0));
          replies.push(res.json);
          return res.json as Record<string, unknown>;
        };
        await send(`{"v":1,"op":"orchestration.status"}`);
        await send(submit("feat")); // not ready
        await send(submit("nope")); // unknown
        await send(submit("load"));
        await send(submit("load")); // already submitted
        await send(wait("t9")); // unknown ticket
        await send(wait("t1", 0)); // load sleeps 100 ms: times out at once
        await send(wait("t1"));
        await send(`{"v":1,"op":"orchestration.status","step":"feat"}`);
        await send(submit("feat"));
        await send(wait("t2"));
        await send(submit("train"));
        await send(wait("t3"));
        events = broker.events;
      },
    };
    try {
      const values = new Map();
      const r = await executeRun(chain(stack, 100), {
        stack,
        runId: "proto-1",
        values,
        scheduler,
        dispatch: (task, s, signal) =>
          runStepTask(s, task, {
            store: stack.artifactStore,
            executor: stack.executor,
            signal,
            values,
            worker: "local",
            stack,
          }),
      });
      assert.equal(r.status, "completed", r.error?.message ?? "");
      const code = (j: Record<string, unknown>) => (j.error as { code?: string } | undefined)?.code;
      assert.deepEqual(
        (replies[0].steps as { step: string; status: string }[]).map((s) => [s.step, s.status]),
        [["load", "ready"], ["feat", "pending"], ["train", "pending"]],
      );
      assert.equal(code(replies[1]), "conflict");
      assert.match(String((replies[1].error as { message: string }).message), /not ready/);
      assert.equal(code(replies[2]), "not_found");
      assert.deepEqual([replies[3].ok, replies[3].ticket], [true, "t1"]);
      assert.equal(code(replies[4]), "conflict");
      assert.match(String((replies[4].error as { message: string }).message), /already submitted/);
      assert.equal(code(replies[5]), "not_found");
      assert.deepEqual([replies[6].status, replies[6].done, replies[6].timed_out], [
        "running",
        false,
        true,
      ]);
      assert.deepEqual([replies[7].status, replies[7].done], ["completed", true]);
      assert.equal(replies[8].status, "ready");
      assert.deepEqual([replies[12].step, replies[12].status], ["train", "completed"]);
      assert.equal(r.outputs.m, 4);
      // Every request is in the audit trail: refusals as not allowed.
      assert.equal(events.length, replies.length);
      assert.deepEqual(events.filter((e) => !e.allowed).map((e) => e.resource), [
        "feat",
        "nope",
        "load",
        "t9",
      ]);
    } finally {
      await stack.close();
    }
  });
});

Deno.test("a scheduler that returns early: steps it left out are skipped and the run fails naming them", async () => {
  await withDir(async (dir) => {
    const x = await runScheduler(dir, "lazy", schedulerWat([submit("load"), wait("t1")]), {
      orchestration: true,
    });
    try {
      assert.equal(x.r.status, "failed");
      assert.match(
        x.r.error!.message,
        /the scheduler \(plugin "lazy"\) returned without submitting 2 step\(s\): feat, train; they were skipped/,
      );
      assert.equal(x.steps.load.status, "completed");
      assert.equal(x.steps.feat.status, "skipped");
      assert.equal(x.steps.train.status, "skipped");
      assert.match(x.steps.feat.error ?? "", /never submitted by the scheduler \(plugin "lazy"\)/);
      assert.deepEqual(x.artifacts.map((a) => a.step), ["load"]);
      assert.equal(x.run?.status, "failed");
    } finally {
      await x.stack.close();
    }
  });
});

Deno.test("a looping or blocked scheduler is stopped at its timeout; running steps finish; the kernel survives", async () => {
  await withDir(async (dir) => {
    // Submits the slow `load`, then spins forever.
    const spin = await runScheduler(dir, "spinner", schedulerWat([submit("load")], LOOP), {
      orchestration: true,
      timeout: "300ms",
    }, 700);
    // Submits the slow `load`, then awaits it with no timeout of its own.
    const block = await runScheduler(dir, "blocker", schedulerWat([submit("load"), wait("t1")]), {
      orchestration: true,
      timeout: "300ms",
    }, 700);
    try {
      for (const [name, x] of [["spinner", spin], ["blocker", block]] as const) {
        assert.equal(x.r.status, "failed");
        assert.match(
          x.r.error!.message,
          new RegExp(
            `the scheduler \\(plugin "${name}"\\) failed: plugin "${name}" was stopped at its timeout`,
          ),
        );
        // The step already running was awaited: recorded complete with its output, never partial.
        assert.ok(x.ms >= 650, `run ended after ${x.ms} ms, before its running step`);
        assert.equal(x.steps.load.status, "completed");
        assert.deepEqual(x.artifacts.map((a) => a.step), ["load"]);
        assert.equal(x.steps.feat.status, "skipped");
        assert.equal(x.steps.train.status, "skipped");
        assert.ok(x.audit.some((e) => e.op === "call" && !e.allowed && /timeout/.test(e.detail!)));
        // The interrupt stopped the plugin: its worker never had to be terminated.
        const host = await pluginHost(name, await resolvePluginConfig(name));
        assert.equal(host.terminations, 0);
      }
      await nextRunWorks(dir);
    } finally {
      await spin.stack.close();
      await block.stack.close();
    }
  });
});

const PIPELINE = `
import { Pipeline, step } from "flowyml";
const feat = (name: string, prio: number) =>
  step({ name, inputs: ["raw"], outputs: [name + "_out"], resources: { labels: ["priority=" + prio] } },
    ({ raw }) => raw.length * prio);
export default new Pipeline("prioritized")
  .add(step({ name: "load", outputs: ["raw"] }, () => [1, 2, 3]))
  .add(feat("low", 1))
  .add(feat("high", 9))
  .add(step({ name: "report", inputs: ["low_out", "high_out"], outputs: ["sum"] },
    ({ low_out, high_out }) => low_out + high_out));
`;

Deno.test("cli: flowyml run on a wasm-orchestrated stack; runs show --audit lists every submit and await", async () => {
  const t = await tempDir("flowyml-orch-cli-");
  try {
    const bytes = await Deno.readFile(SCHED_WASM);
    await Deno.writeTextFile(
      `${t.path}/flowyml.yaml`,
      `plugins:
  priority_scheduler:
    source: ${SCHED_WASM}
    sha256: ${sha256Hex(bytes)}
    grants:
      orchestration: true
      config: { max_parallel: 1, priority_label: priority }
      timeout: 10m
stacks:
  prioritized:
    orchestrator: { type: wasm, plugin: priority_scheduler, concurrency: 4 }
`,
    );
    await Deno.writeTextFile(`${t.path}/pipeline.ts`, PIPELINE);
    const cli = (args: string[]) => flowyml(t.path, args);
    const run = await cli(["run", "pipeline.ts", "--stack", "prioritized"]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /status completed/);
    const id = /run\s+(prioritized-\S+)/.exec(run.stdout)![1];
    const show = await cli(["runs", "show", id, "--stack", "prioritized", "--audit"]);
    assert.equal(show.code, 0, show.stderr);
    const lines = show.stdout.split("\n");
    const submits = lines.filter((l) => /allowed\s+orchestration\.submit/.test(l))
      .map((l) => /orchestration\.submit\s+(\S+)/.exec(l)![1]);
    assert.deepEqual(submits, ["load", "high", "low", "report"]);
    const awaited = lines.filter((l) => /allowed\s+orchestration\.await/.test(l))
      .map((l) => /orchestration\.await\s+(\S+)/.exec(l)![1]);
    assert.deepEqual([...new Set(awaited)], ["load", "high", "low", "report"]);
    assert.match(show.stdout, /brokered call\(s\) by priority_scheduler: \d+ allowed, 0 denied/);
  } finally {
    await t.cleanup();
  }
});
