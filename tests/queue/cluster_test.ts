/**
 * Scale-out on real processes: redis-server, PostgreSQL 15, a shared
 * artifact folder and `flowyml worker` processes (the real deno binary).
 * Covers: steps run on both workers, `kill -9` of a worker mid-step, Redis
 * restarted mid-run, the driver killed mid-run then `runs resume`, a step
 * that keeps failing, the code-version check, graceful SIGTERM (finish and
 * hand back) and `workers list`.
 *
 * Lock settings: lockDuration 2 s / stalledInterval 1 s (see `_cluster.ts`).
 * @module
 */
import assert from "node:assert/strict";
import { requireService } from "../_helpers.ts";
import { REDIS_HOW, redisAvailable } from "../services/redis.ts";
import { POSTGRES_HOW, postgresAvailable } from "../services/postgres.ts";
import "../../plugins/mod.ts";
import { parseConfig } from "../../kernel/config.ts";
import { buildStack, type Stack } from "../../kernel/stack.ts";
import type { Pipeline } from "../../kernel/pipeline.ts";
import type { RunEvent } from "../../kernel/contracts.ts";
import { sha256Hex } from "../../kernel/hash.ts";
import type { QueueOrchestrator } from "../../plugins/queue/orchestrator.ts";
import { listWorkers } from "../../plugins/queue/worker.ts";
import {
  DRIVER,
  fixture,
  marks,
  Proc,
  startCluster,
  storedBytes,
  waitFor,
  WORKER_MAIN,
} from "./_cluster.ts";

const ok = requireService("redis-server", redisAvailable(), REDIS_HOW) &&
  requireService("PostgreSQL 15", postgresAvailable(), POSTGRES_HOW);

async function load(name: string): Promise<Pipeline> {
  return (await import(fixture(name))).default as Pipeline;
}

Deno.test({
  name: "scale-out: pipeline steps on BullMQ workers, with faults",
  ignore: !ok,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const cluster = await startCluster("cluster", "flowyml-cluster-");
    const { tmp, redis, artifacts, config, yaml, procs } = cluster;
    let stack: Stack | undefined;
    try {
      const workers = new Map<string, Proc>();
      const start = (id: string, extra: string[] = []) => {
        const p = cluster.startWorker(id, extra);
        workers.set(id, p);
        return p;
      };
      start("w1");
      start("w2");
      stack = await buildStack(parseConfig(yaml), "cluster");
      const orch = stack.orchestrator as QueueOrchestrator;
      const live = async () =>
        (await listWorkers(orch.client(), orch.config.prefix)).map((w) => w.id).sort();
      await waitFor(
        async () => (await live()).length === 2,
        30_000,
        "2 workers to announce themselves",
      );
      const meta = stack.metadataStore;
      const events: RunEvent[] = [];
      const run = async (name: string, params: Record<string, unknown> = {}) =>
        (await load(name)).run({
          stack,
          params: { marks: tmp, ...params },
          onEvent: (e) => events.push(e),
        });

      await t.step("steps really run on both workers; runs show who ran each step", async () => {
        const res = await run("fanout", { sleepMs: 400 });
        assert.equal(res.status, "completed", String(res.error));
        assert.equal(res.outputs.total, 10 * 21);
        const steps = await meta.listStepRuns(res.runId);
        assert.equal(steps.length, 8);
        assert.ok(steps.every((s) => s.status === "completed" && s.attempts === 1));
        const ran = new Set(steps.map((s) => s.worker));
        assert.deepEqual([...ran].sort(), ["w1", "w2"], `workers: ${[...ran]}`);
        // The step's ctx.log lines and metrics come back to the driver.
        assert.ok(
          events.some((e) =>
            e.type === "step_log" && e.runId === res.runId && e.step === "join" &&
            e.message === "joined 6 parts"
          ),
          "join's log line reached the driver",
        );
        const metrics = await meta.listMetrics({ runId: res.runId });
        assert.deepEqual(metrics.map((m) => [m.step, m.name, m.value]), [["join", "parts", 6]]);
        // Different processes really ran them: the parallel steps record their pid.
        const pids = new Set(
          (await Promise.all([1, 2, 3, 4, 5, 6].map((i) => marks(tmp, `work${i}`)))).flat(),
        );
        assert.equal(pids.size, 2);
        // One log line per step, in the worker that ran it.
        for (const s of steps) {
          const w = workers.get(s.worker!)!;
          const lines = w.lines.filter((l) => l.includes(`run=${res.runId} step=${s.step} `));
          assert.equal(lines.length, 1, `${s.worker} log for ${s.step}:\n${w.text()}`);
          assert.match(lines[0], / ok run=/);
        }
        // The CLI's workers list shows both live workers.
        const list = new Proc("list", [
          "run",
          "-A",
          WORKER_MAIN,
          "workers",
          "list",
          "--stack",
          "cluster",
        ], {
          FLOWYML_CONFIG: config,
        });
        assert.equal((await list.done).code, 0, list.text());
        assert.match(list.text(), /^w1\s+running\s+default\s+0\/4/m);
        assert.match(list.text(), /^w2\s+running\s+default\s+0\/4/m);
      });

      await t.step(
        "kill -9 of a worker mid-step: another re-runs it, one artifact recorded",
        async () => {
          const pending = run("slow", { slowMs: 2500 });
          const victimId = await waitFor(
            async () => {
              const ws = await listWorkers(orch.client(), orch.config.prefix);
              return ws.find((w) => w.steps.some((s) => s.step === "slow"))?.id;
            },
            20_000,
            "a worker to start step slow",
          );
          const victim = workers.get(victimId)!;
          await waitFor(
            async () => (await marks(tmp, "slow")).length === 1,
            5_000,
            "slow to start",
          );
          victim.kill("SIGKILL");
          assert.equal((await victim.done).signal, "SIGKILL");
          const res = await pending;
          assert.equal(res.status, "completed", String(res.error));
          const survivor = victimId === "w1" ? "w2" : "w1";
          const steps = await meta.listStepRuns(res.runId);
          const slow = steps.find((s) => s.step === "slow")!;
          assert.equal(slow.worker, survivor);
          assert.equal(slow.attempts, 1, "a dead worker does not use up an attempt");
          const log = await marks(tmp, "slow");
          assert.deepEqual(
            log.map((l) => l.split(" ")[0]),
            ["start", "start", "end"],
            log.join("\n"),
          );
          assert.equal(log[0].split(" ")[1], String(victim.pid));
          // Exactly one artifact record for the step's output, whole and content-addressed.
          const arts = (await meta.listArtifacts(res.runId)).filter((a) => a.step === "slow");
          assert.equal(arts.length, 1);
          // 22 KB, over inlineMaxBytes: an object file in the artifact store.
          assert.ok(!arts[0].inline);
          const bytes = await storedBytes(meta, artifacts, arts[0]);
          assert.equal(bytes.byteLength, arts[0].size);
          assert.equal(sha256Hex(bytes), arts[0].hash);
          assert.equal(res.outputs.size, arts[0].size);
          for await (const e of Deno.readDir(`${artifacts}/objects/${arts[0].hash.slice(0, 2)}`)) {
            assert.ok(!e.name.includes(".tmp"), `no partial object left: ${e.name}`);
          }
          // Its small input came back inline and is stored with its record.
          const prep = (await meta.listArtifacts(res.runId)).find((a) => a.step === "prep")!;
          assert.equal(prep.inline, true);
          assert.equal(new TextDecoder().decode(await storedBytes(meta, artifacts, prep)), "input");
          // The dead worker disappears from the live list once its heartbeat key expires.
          await waitFor(
            async () => !(await live()).includes(victimId),
            10_000,
            `${victimId} to expire`,
          );
          start(victimId === "w1" ? "w3" : "w4");
          await waitFor(async () => (await live()).length === 2, 30_000, "replacement worker");
        },
      );

      await t.step(
        "Redis restarted (data lost) mid-run: the run completes once it is back",
        async () => {
          const pending = run("fanout", { sleepMs: 1200 });
          await waitFor(
            async () => (await marks(tmp, "work1")).length >= 2,
            10_000,
            "work steps to start",
          );
          await redis.restart({ downMs: 700 });
          const res = await pending;
          assert.equal(res.status, "completed", String(res.error));
          assert.equal(res.outputs.total, 10 * 21);
          const steps = await meta.listStepRuns(res.runId);
          assert.ok(
            steps.every((s) => s.status === "completed"),
            JSON.stringify(steps.map((s) => s.status)),
          );
          await waitFor(
            async () => (await live()).length === 2,
            10_000,
            "workers to heartbeat again",
          );
        },
      );

      await t.step(
        "driver killed mid-run: runs resume continues without re-running completed steps",
        async () => {
          const dir = `${tmp}/resume`;
          await Deno.mkdir(dir);
          const driver = new Proc("driver", [
            "run",
            "-A",
            DRIVER,
            fixture("chain"),
            "cluster",
            JSON.stringify({ marks: dir, stepMs: 700 }),
          ], {
            FLOWYML_CONFIG: config,
          });
          procs.push(driver);
          const runId = await waitFor(
            () => driver.lines.find((l) => l.startsWith("RUN "))?.slice(4),
            20_000,
            "driver to start",
          );
          await waitFor(
            async () => {
              const s = await meta.listStepRuns(runId);
              return s.find((x) => x.step === "b")?.status === "completed";
            },
            20_000,
            "steps a and b to complete",
          );
          driver.kill("SIGKILL");
          await driver.done;
          const before = await meta.listStepRuns(runId);
          const completed = before.filter((s) => s.status === "completed").map((s) => s.step);
          assert.deepEqual(completed.slice(0, 2), ["a", "b"]);
          const resume = new Proc("resume", [
            "run",
            "-A",
            WORKER_MAIN,
            "runs",
            "resume",
            runId,
            "--stack",
            "cluster",
            "-q",
          ], {
            FLOWYML_CONFIG: config,
          });
          procs.push(resume);
          const st = await resume.done;
          assert.equal(st.code, 0, resume.text());
          const after = await meta.getRun(runId);
          assert.equal(after?.status, "completed");
          for (const s of completed) {
            assert.equal((await marks(dir, s)).length, 1, `${s} ran once`);
            const rec = (await meta.listStepRuns(runId)).find((x) => x.step === s)!;
            assert.deepEqual(rec, before.find((x) => x.step === s));
          }
          assert.ok((await marks(dir, "d")).length >= 1);
          const steps = await meta.listStepRuns(runId);
          assert.ok(steps.every((s) => s.status === "completed"));
          const d = (await meta.listArtifacts(runId)).find((a) => a.step === "d")!;
          assert.equal(
            new TextDecoder().decode(await storedBytes(meta, artifacts, d)),
            "abcd",
          );
        },
      );

      await t.step(
        "a step that keeps failing: run fails after retries with the worker's error and stack",
        async () => {
          const res = await run("failing");
          assert.equal(res.status, "failed");
          assert.match(
            res.error!.message,
            /step "explode" failed after 3 attempts: boom from explode \(attempt 3\)/,
          );
          const steps = await meta.listStepRuns(res.runId);
          const ex = steps.find((s) => s.step === "explode")!;
          assert.equal(ex.status, "failed");
          assert.equal(ex.attempts, 3);
          assert.equal(ex.error, "boom from explode (attempt 3)");
          assert.match(ex.errorStack!, /at explodeNow \(file:\/\/.*failing\.ts:\d+:\d+\)/);
          assert.match(ex.errorStack!, /on flowyml worker w\d/);
          assert.equal(steps.find((s) => s.step === "never")?.status, "skipped");
          assert.equal((await meta.getRun(res.runId))?.status, "failed");
        },
      );

      await t.step(
        "a worker with another code version refuses the step with a clear error",
        async () => {
          const dir = `${tmp}/versioned`;
          await Deno.mkdir(dir);
          const mod = `${dir}/versioned.ts`;
          const modUrl = new URL("../../mod.ts", import.meta.url).href;
          const write = (v: number) =>
            Deno.writeTextFile(
              mod,
              `import { Pipeline, step } from "${modUrl}";\n` +
                `export default new Pipeline("versioned", { source: import.meta.url, cache: false })\n` +
                `  .add(step({ name: "v", outputs: ["v"] }, () => ${v}));\n`,
            );
          // The driver (this process) has loaded version 1; the code on disk, which workers
          // import, is then changed to version 2.
          await write(1);
          const driverCopy = (await import(mod)).default as Pipeline;
          await write(2);
          const res = await driverCopy.run({ stack });
          assert.equal(res.status, "failed");
          const err = res.error!.message;
          assert.match(
            err,
            /worker w\d refuses step "v": its pipeline module file:\/\/.*versioned\.ts has hash/,
          );
          assert.match(err, /but run versioned-\S+ was started with [0-9a-f]{12}/);
          const rec = (await meta.listStepRuns(res.runId)).find((s) => s.step === "v")!;
          assert.match(rec.error!, /restart `flowyml worker`/);
        },
      );

      await t.step(
        "SIGTERM: a worker finishes its step, or hands it back after the grace period",
        async () => {
          // Finish: the grace period (5 s default in this test) outlasts the step.
          await Deno.remove(`${tmp}/slow.log`).catch(() => {});
          let pending = run("slow", { slowMs: 1200 });
          let id = await waitFor(
            async () => {
              const ws = await listWorkers(orch.client(), orch.config.prefix);
              return ws.find((w) => w.steps.some((s) => s.step === "slow"))?.id;
            },
            20_000,
            "a worker to start step slow",
          );
          let w = workers.get(id)!;
          w.kill("SIGTERM");
          let res = await pending;
          assert.equal(res.status, "completed", String(res.error));
          assert.equal(
            (await meta.listStepRuns(res.runId)).find((s) => s.step === "slow")?.worker,
            id,
          );
          assert.equal((await w.done).code, 0, w.text());
          assert.match(w.text(), /stopping: 1 step\(s\) running/);
          assert.match(
            w.text(),
            new RegExp(`${id} worker stopped: \\d+ done, \\d+ failed, 0 handed back`),
          );
          assert.ok(!(await live()).includes(id), "a stopped worker removes its liveness record");

          // Hand back: a 200 ms grace period is shorter than the step.
          start("w5", ["--grace-ms", "200"]);
          await waitFor(async () => (await live()).includes("w5"), 30_000, "w5");
          for (const k of (await live()).filter((k) => k !== "w5")) {
            workers.get(k)!.kill("SIGTERM"); // leave w5 alone with the queue
            await workers.get(k)!.done;
          }
          await Deno.remove(`${tmp}/slow.log`).catch(() => {});
          pending = run("slow", { slowMs: 1500 });
          await waitFor(
            async () => (await marks(tmp, "slow")).length === 1,
            20_000,
            "w5 to start slow",
          );
          w = workers.get("w5")!;
          w.kill("SIGTERM");
          assert.equal((await w.done).code, 0, w.text());
          assert.match(w.text(), /handed-back run=.* step=slow/);
          assert.match(w.text(), /1 handed back/);
          start("w6");
          res = await pending;
          assert.equal(res.status, "completed", String(res.error));
          id = (await meta.listStepRuns(res.runId)).find((s) => s.step === "slow")!.worker!;
          assert.equal(id, "w6");
        },
      );
    } finally {
      await stack?.close();
      await cluster.stop();
    }
  },
});
