/**
 * `flowyml compile --target airflow`: the DAG file compiles (`python3 -m py_compile`), passes
 * `ruff check --select AIR --preview` (no Airflow 2-only API; ruff does flag one when present),
 * and, loaded against a tiny shim of `airflow.sdk`, has exactly the pipeline's steps as tasks
 * and its graph's edges (fan-out and fan-in, not a chain). The orchestrator's REST calls
 * (trigger, status, task instances, cancel) are checked by a local server. No live Airflow.
 */
// deno-lint-ignore-file no-explicit-any
import assert from "node:assert/strict";
import { compileAirflowDag, taskId } from "../../plugins/airflow/dag.ts";
import { buildGraph } from "../../kernel/graph.ts";
import { parseConfig } from "../../kernel/config.ts";
import { buildStack, type Stack } from "../../kernel/stack.ts";
import type { AirflowOrchestrator } from "../../plugins/airflow/orchestrator.ts";
import demo from "../../examples/demo/pipeline.ts";
import fan from "./fixtures/fan_pipeline.ts";
import { hasBinary, requireService, tempDir } from "../_helpers.ts";
import "../../plugins/mod.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const SHIM = new URL("./airflow_shim/load_dag.py", import.meta.url).pathname;
const hasRuff = requireService("ruff", hasBinary("ruff"), "pip install ruff (local index)");
const OPTS = {
  image: "127.0.0.1:5000/flowyml/flowers:v1",
  stack: "k8s",
  pipelinePath: "/app/examples/demo/pipeline.ts",
  params: { epochs: 300, lr: 0.1 },
};

async function run(cmd: string, args: string[]) {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("airflow: the DAG file compiles, passes ruff AIR, and has the real graph", async (t) => {
  const tmp = await tempDir("flowyml-airflow-");
  try {
    const files: Record<string, string> = {};
    for (const operator of ["kubernetes", "bash"] as const) {
      files[operator] = `${tmp.path}/demo_${operator}.py`;
      await Deno.writeTextFile(files[operator], compileAirflowDag(demo, { ...OPTS, operator }));
    }
    files.fan = `${tmp.path}/fan.py`;
    await Deno.writeTextFile(
      files.fan,
      compileAirflowDag(fan, { ...OPTS, pipelinePath: "/app/f.ts", resources: { cpu: 2 } }),
    );
    await t.step("python3 -m py_compile", async () => {
      for (const f of Object.values(files)) {
        const r = await run("python3", ["-m", "py_compile", f]);
        assert.equal(r.code, 0, r.stderr);
      }
    });
    await t.step({
      name: "ruff check --select AIR --preview passes; an Airflow 2 API is flagged",
      ignore: !hasRuff,
      fn: async () => {
        const r = await run("ruff", [
          "check",
          "--select",
          "AIR",
          "--preview",
          ...Object.values(files),
        ]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        const old = `${tmp.path}/old.py`;
        const text = await Deno.readTextFile(files.kubernetes);
        await Deno.writeTextFile(
          old,
          text.replace("    schedule=None,", "    schedule_interval=None,"),
        );
        const bad = await run("ruff", ["check", "--select", "AIR", "--preview", old]);
        assert.notEqual(bad.code, 0, "ruff must flag schedule_interval");
        assert.match(bad.stdout, /schedule_interval/);
      },
    });
    await t.step(
      "loaded with a shim of airflow.sdk: tasks and edges are the pipeline's graph",
      async () => {
        for (
          const [name, pipeline] of [["kubernetes", demo], ["bash", demo], ["fan", fan]] as const
        ) {
          const r = await run("python3", [SHIM, files[name]]);
          assert.equal(r.code, 0, r.stderr);
          const [dag] = JSON.parse(r.stdout);
          assert.equal(dag.dag_id, pipeline.name);
          assert.equal(dag.kwargs.schedule, null);
          assert.match(dag.kwargs.start_date, /2024, 1, 1/);
          const graph = buildGraph(pipeline.name, pipeline.steps);
          assert.deepEqual(
            Object.keys(dag.tasks).sort(),
            pipeline.steps.map((s) => taskId(s.name)).sort(),
          );
          const want = graph.order.flatMap((s) =>
            graph.downstream.get(s.name)!.map((d) => `${taskId(s.name)}>>${taskId(d)}`)
          ).sort();
          assert.deepEqual(dag.edges.map((e: string[]) => e.join(">>")).sort(), want);
          const load = Object.values(dag.tasks)[0] as any;
          if (name === "bash") {
            assert.equal(load.operator, "BashOperator");
            assert.match(load.bash_command, /'step' 'run' '--run' '\{\{ run_id \}\}'/);
          } else {
            assert.equal(load.operator, "KubernetesPodOperator");
            assert.deepEqual(load.cmds, ["deno", "run", "-A", "/app/cli/main.ts", "step", "run"]);
            assert.equal(load.arguments[1], "{{ run_id }}");
          }
        }
        const [fanDag] = JSON.parse((await run("python3", [SHIM, files.fan])).stdout);
        assert.deepEqual(fanDag.tasks.right.container_resources.limits, {
          cpu: "1",
          memory: "512Mi",
        });
        assert.deepEqual(fanDag.tasks.left.container_resources.limits, { cpu: "2" });
      },
    );
  } finally {
    await tmp.cleanup();
  }
});

Deno.test({
  name: "airflow: trigger, status, task instances and cancel against a server checking /api/v2",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const tmp = await tempDir("flowyml-airflow-rest-");
    const seen: string[] = [];
    const runs = new Map<string, { conf: unknown; polls: number; state: string }>();
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
      const url = new URL(req.url);
      seen.push(`${req.method} ${url.pathname}`);
      if (url.pathname === "/auth/token" && req.method === "POST") {
        const b = await req.json();
        if (b.username !== "admin" || b.password !== "s3cret") {
          return Response.json({ detail: "Invalid credentials" }, { status: 401 });
        }
        return Response.json({ access_token: "jwt-abc" }, { status: 201 });
      }
      if (req.headers.get("authorization") !== "Bearer jwt-abc") {
        return Response.json({ detail: "Not authenticated" }, { status: 401 });
      }
      let m = /^\/api\/v2\/dags\/([\w.-]+)\/dagRuns$/.exec(url.pathname);
      if (m && req.method === "POST") {
        if (m[1] !== "fan") return Response.json({ detail: "DAG not found" }, { status: 404 });
        const b = await req.json();
        const allowed = [
          "dag_run_id",
          "data_interval_start",
          "data_interval_end",
          "logical_date",
          "run_after",
          "conf",
          "note",
        ];
        const extra = Object.keys(b).filter((k) => !allowed.includes(k));
        if (extra.length || !("logical_date" in b) || typeof b.dag_run_id !== "string") {
          return Response.json({ detail: `bad body ${JSON.stringify(b)}` }, { status: 422 });
        }
        runs.set(b.dag_run_id, { conf: b.conf, polls: 0, state: "queued" });
        return Response.json({
          dag_run_id: b.dag_run_id,
          dag_id: "fan",
          state: "queued",
          conf: b.conf,
        });
      }
      m = /^\/api\/v2\/dags\/fan\/dagRuns\/([^/]+)(\/taskInstances)?$/.exec(url.pathname);
      const r = m && runs.get(decodeURIComponent(m[1]));
      if (!m || !r) return Response.json({ detail: "not found" }, { status: 404 });
      if (req.method === "PATCH") {
        const b = await req.json();
        r.state = b.state;
        return Response.json({ dag_run_id: m[1], state: r.state });
      }
      if (m[2]) {
        const st = r.state === "success" ? "success" : r.state === "failed" ? "failed" : "running";
        return Response.json({
          task_instances: fan.steps.map((s) => ({
            task_id: s.name,
            state: st,
            try_number: 1,
            duration: 0.5,
            hostname: "w1",
          })),
          total_entries: fan.steps.length,
        });
      }
      if (r.state !== "failed") r.state = ++r.polls >= 3 ? "success" : "running";
      return Response.json({ dag_run_id: m[1], dag_id: "fan", state: r.state });
    });
    let stack: Stack | undefined;
    try {
      const orch = {
        type: "airflow",
        url: `http://127.0.0.1:${server.addr.port}`,
        auth: "password",
        username: "admin",
        password: { env: "TEST_AIRFLOW_PASSWORD" },
        dag_folder: `${tmp.path}/dags`,
        image: "127.0.0.1:5000/flowyml/fan:v1",
        project_root: ROOT,
        poll_ms: 5,
      };
      Deno.env.set("TEST_AIRFLOW_PASSWORD", "s3cret");
      stack = await buildStack(
        parseConfig(`stacks:
  af:
    orchestrator: ${JSON.stringify(orch)}
    artifact_store: { type: local, path: ${tmp.path}/artifacts }
    metadata_store: { type: sqlite, path: ${tmp.path}/meta.db }
`),
        "af",
      );
      const o = stack.orchestrator as AirflowOrchestrator;
      const runId = await o.runPipeline(fan, { stack, params: { k: 3 } });
      assert.deepEqual(runs.get(runId)!.conf, { k: 3 });
      const dag = await Deno.readTextFile(`${tmp.path}/dags/flowyml_fan.py`);
      assert.match(dag, /from airflow\.sdk import DAG/);
      assert.match(dag, /"\/app\/tests\/compile\/fixtures\/fan_pipeline\.ts"/);
      const res = await o.waitForRun(runId);
      assert.equal(res.status, "completed");
      const rec = (await stack.metadataStore.getRun(runId))!;
      assert.equal(rec.status, "completed");
      assert.ok(rec.endedAt && rec.pipelineHash, "the kernel's run record, with its end");
      assert.equal(rec.extra!.dagId, "fan");
      assert.equal((rec.extra!.graph as unknown[]).length, fan.steps.length, "the DAG's shape");
      const recs = await stack.metadataStore.listStepRuns(runId);
      assert.deepEqual(recs.map((r) => r.status), [
        "completed",
        "completed",
        "completed",
        "completed",
      ]);
      assert.ok(seen.includes(`GET /api/v2/dags/fan/dagRuns/${runId}/taskInstances`));

      const second = await o.runPipeline(fan, { stack });
      await o.cancelRun(second);
      assert.ok(seen.includes(`PATCH /api/v2/dags/fan/dagRuns/${second}`));
      assert.equal(await o.getRunStatus(second), "failed");
      assert.equal(seen.filter((s) => s === "POST /auth/token").length, 1, "the JWT is reused");
    } finally {
      await stack?.close();
      await server.shutdown();
      await tmp.cleanup();
    }
  },
});
