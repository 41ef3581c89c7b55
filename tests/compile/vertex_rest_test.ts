// deno-lint-ignore-file no-explicit-any
/**
 * The Vertex orchestrator's REST calls against a local HTTP server that checks
 * each request against the Vertex AI REST reference (`projects.locations.
 * pipelineJobs` create/get/cancel: path, `pipelineJobId`, body fields, bearer
 * token) and plays the job through its states. While it plays a job it runs
 * each task's step the way the task's container would (`runStepJob` with
 * `record: "none"`: result objects only), so the driver's step records come
 * from the task states and the result objects. No live Vertex: see
 * docs/orchestrators.md.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../kernel/config.ts";
import { buildStack, type Stack } from "../../kernel/stack.ts";
import { runStepJob } from "../../kernel/step_job.ts";
import { buildGraph } from "../../kernel/graph.ts";
import { kfpName } from "../../plugins/vertex/compile.ts";
import type { VertexOrchestrator } from "../../plugins/vertex/orchestrator.ts";
import fan from "./fixtures/fan_pipeline.ts";
import { tempDir } from "../_helpers.ts";
import { buildChecker, checkerAvailable, checkSpecs } from "./_checker.ts";
import "../../plugins/mod.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const TOKEN = `ya29.test-${crypto.randomUUID()}`;
/** PipelineJob fields a create request may set (REST reference, v1). */
const WRITABLE = new Set([
  "displayName",
  "pipelineSpec",
  "runtimeConfig",
  "labels",
  "serviceAccount",
  "network",
  "encryptionSpec",
  "reservedIpRanges",
  "templateUri",
  "preflightValidations",
  "pscInterfaceConfig",
]);
const PATH =
  /^\/v1\/projects\/([a-z][a-z0-9-]{4,28}[a-z0-9])\/locations\/([a-z0-9-]+)\/pipelineJobs(?:\/([a-z0-9-]+)(:cancel)?)?$/;

interface Job {
  id: string;
  body: Record<string, any>;
  state: string;
  tasks: Map<string, { state: string; startTime?: string; endTime?: string; error?: unknown }>;
  failTask?: string;
  cancel?: boolean;
}

/** The checking server. `stack` runs the steps as Vertex would run their containers. */
function vertexServer(stack: () => Stack, failTask: () => string | undefined) {
  const jobs = new Map<string, Job>();
  const requests: string[] = [];
  const specs: unknown[] = [];
  const err = (code: number, status: string, message: string) =>
    Response.json({ error: { code, status, message } }, { status: code });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    requests.push(`${req.method} ${url.pathname}${url.search}`);
    if (req.headers.get("authorization") !== `Bearer ${TOKEN}`) {
      return err(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.");
    }
    const m = PATH.exec(url.pathname);
    if (!m || m[2] !== "us-central1") return err(404, "NOT_FOUND", `no route ${url.pathname}`);
    const [, , , id, cancel] = m;
    if (req.method === "POST" && !id) return create(req, url);
    const job = id ? jobs.get(id) : undefined;
    if (!job) return err(404, "NOT_FOUND", `pipelineJob ${id} not found`);
    if (req.method === "POST" && cancel) {
      job.cancel = true;
      return Response.json({});
    }
    if (req.method === "GET" && !cancel) return Response.json(await advance(job));
    return err(400, "INVALID_ARGUMENT", `${req.method} ${url.pathname}`);
  });
  async function create(req: Request, url: URL): Promise<Response> {
    if (req.headers.get("content-type") !== "application/json") {
      return err(400, "INVALID_ARGUMENT", "content-type");
    }
    const id = url.searchParams.get("pipelineJobId") ?? "";
    if (!/^[a-z0-9][a-z0-9-]{0,127}$/.test(id)) return err(400, "INVALID_ARGUMENT", `id ${id}`);
    if (jobs.has(id)) return err(409, "ALREADY_EXISTS", id);
    const body = await req.json();
    const extra = Object.keys(body).filter((k) => !WRITABLE.has(k));
    if (extra.length) return err(400, "INVALID_ARGUMENT", `Unknown name ${extra.join(",")}`);
    if (typeof body.displayName !== "string" || body.displayName.length > 128) {
      return err(400, "INVALID_ARGUMENT", "displayName");
    }
    const rc = body.runtimeConfig ?? {};
    if (!String(rc.gcsOutputDirectory ?? "").startsWith("gs://")) {
      return err(400, "INVALID_ARGUMENT", "runtimeConfig.gcsOutputDirectory must be gs://");
    }
    if (body.pipelineSpec?.schemaVersion !== "2.1.0" || !body.pipelineSpec.root?.dag?.tasks) {
      return err(400, "INVALID_ARGUMENT", "pipelineSpec");
    }
    specs.push(body.pipelineSpec);
    jobs.set(id, {
      id,
      body,
      state: "PIPELINE_STATE_PENDING",
      tasks: new Map(),
      failTask: failTask(),
    });
    return Response.json(view(jobs.get(id)!, url.pathname));
  }
  function view(job: Job, path = "") {
    return {
      name: `${path.replace(/^\/v1\//, "")}/${job.id}`.replace(
        /\/pipelineJobs\/[^/]+\//,
        "/pipelineJobs/",
      ),
      displayName: job.body.displayName,
      state: job.state,
      ...(job.state === "PIPELINE_STATE_FAILED"
        ? { error: { code: 9, message: "The DAG failed because some tasks failed." } }
        : {}),
      jobDetail: {
        taskDetails: [...job.tasks].map(([taskName, t]) => ({ taskName, ...t })),
      },
    };
  }
  /** One step of the job's life per GET: pending → running → one task at a time → done. */
  async function advance(job: Job) {
    const now = new Date().toISOString();
    if (job.cancel && job.state !== "PIPELINE_STATE_CANCELLED") {
      job.state = job.state === "PIPELINE_STATE_CANCELLING"
        ? "PIPELINE_STATE_CANCELLED"
        : "PIPELINE_STATE_CANCELLING";
      return view(job);
    }
    if (job.state === "PIPELINE_STATE_PENDING") {
      job.state = "PIPELINE_STATE_RUNNING";
      return view(job);
    }
    if (job.state !== "PIPELINE_STATE_RUNNING") return view(job);
    const dag = job.body.pipelineSpec.root.dag.tasks as Record<
      string,
      { dependentTasks?: string[] }
    >;
    const done = (t: string) => job.tasks.get(t)?.state === "SUCCEEDED";
    const next = Object.keys(dag).find((t) =>
      !job.tasks.has(t) && (dag[t].dependentTasks ?? []).every(done)
    );
    if (!next) {
      const failed = [...job.tasks.values()].some((t) => t.state === "FAILED");
      for (const t of Object.keys(dag)) {
        if (!job.tasks.has(t)) job.tasks.set(t, { state: "NOT_TRIGGERED" });
      }
      job.state = failed ? "PIPELINE_STATE_FAILED" : "PIPELINE_STATE_SUCCEEDED";
      return view(job);
    }
    if (next === job.failTask) {
      job.tasks.set(next, {
        state: "FAILED",
        startTime: now,
        endTime: now,
        error: {
          code: 9,
          message: "The replica workerpool0-0 exited with a non-zero status of 1.",
        },
      });
      return view(job);
    }
    // Run the step as the task's container would: `flowyml step run --record none`.
    const step = fan.steps.find((s) => kfpName(s.name) === next)!.name;
    const out = await runStepJob(fan, stack(), {
      runId: job.id,
      step,
      record: "none",
      params: job.body.runtimeConfig.parameterValues,
    });
    job.tasks.set(next, {
      state: out.status === "completed" ? "SUCCEEDED" : "FAILED",
      startTime: now,
      endTime: new Date().toISOString(),
    });
    return view(job);
  }
  return { server, jobs, requests, specs, port: server.addr.port };
}

Deno.test({
  name: "vertex: pipelineJobs create/get/cancel against a server checking the REST reference",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const tmp = await tempDir("flowyml-vertex-");
    let stack!: Stack;
    let fail: string | undefined;
    const srv = vertexServer(() => stack, () => fail);
    Deno.env.set("TEST_VERTEX_TOKEN", TOKEN);
    try {
      const orch = {
        type: "vertex",
        project: "my-proj-123",
        region: "us-central1",
        api_endpoint: `http://127.0.0.1:${srv.port}`,
        token: { env: "TEST_VERTEX_TOKEN" },
        pipeline_root: "gs://my-bucket/flowyml/root",
        image: "us-docker.pkg.dev/my-proj-123/flowyml/fan:v1",
        project_root: ROOT,
        poll_ms: 5,
      };
      stack = await buildStack(
        parseConfig(`stacks:
  vertex:
    orchestrator: ${JSON.stringify(orch)}
    artifact_store: { type: local, path: ${tmp.path}/artifacts }
    metadata_store: { type: sqlite, path: ${tmp.path}/meta.db }
`),
        "vertex",
      );
      const o = stack.orchestrator as VertexOrchestrator;

      await t.step(
        "a run: create with the run id as job id, poll to SUCCEEDED, records from task states and result objects",
        async () => {
          const runId = await o.runPipeline(fan, { stack, params: { k: 2 } });
          assert.match(runId, /^fan-[0-9]{14}-[0-9a-f]{8}$/);
          const create = srv.requests.find((r) => r.startsWith("POST"))!;
          assert.equal(
            create,
            `POST /v1/projects/my-proj-123/locations/us-central1/pipelineJobs?pipelineJobId=${runId}`,
          );
          const body = srv.jobs.get(runId)!.body;
          assert.deepEqual(body.runtimeConfig, {
            gcsOutputDirectory: "gs://my-bucket/flowyml/root",
            parameterValues: { k: 2 },
          });
          const graph = buildGraph(fan.name, fan.steps);
          for (const s of fan.steps) {
            const task = body.pipelineSpec.root.dag.tasks[kfpName(s.name)];
            assert.deepEqual(
              task.dependentTasks ?? [],
              graph.upstream.get(s.name)!.map(kfpName).sort(),
            );
          }
          assert.equal(
            body.pipelineSpec.deploymentSpec.executors["exec-right"].container.resources
              .resourceMemoryLimit,
            "512Mi",
          );
          const res = await o.waitForRun(runId);
          assert.equal(res.status, "completed");
          assert.equal(await o.getRunStatus(runId), "completed");
          const meta = stack.metadataStore;
          const rec = (await meta.getRun(runId))!;
          assert.equal(rec.status, "completed");
          // The kernel's run record (kernel/run_start.ts), plus where the run ran.
          assert.ok(rec.pipelineHash, "the pipeline hash, as an engine run has");
          assert.deepEqual(
            (rec.extra!.graph as { name: string }[]).map((s) => s.name),
            fan.steps.map((s) => s.name),
            "the DAG's shape, so the UI draws pending steps",
          );
          assert.match(String(rec.extra!.vertexJob), new RegExp(`/pipelineJobs/${runId}$`));
          assert.equal(rec.extra!.orchestrator, "vertex");
          const recs = await meta.listStepRuns(runId);
          assert.deepEqual(recs.map((r) => r.status).sort(), [
            "completed",
            "completed",
            "completed",
            "completed",
          ]);
          const join = recs.find((r) => r.step === "join")!;
          assert.ok(join.outputs?.sum, "outputs from join's result object");
          const { loadValue } = await import("../../kernel/artifacts.ts");
          assert.equal(await loadValue(stack.artifactStore, join.outputs!.sum), 21 + 40);
          assert.deepEqual((await meta.listMetrics({ runId, step: "join" })).map((m) => m.value), [
            61,
          ]);
        },
      );

      await t.step(
        "a failed task: the job FAILED, the step failed with Vertex's message, downstream skipped",
        async () => {
          fail = "right";
          const runId = await o.runPipeline(fan, { stack, params: { k: 1 } });
          const res = await o.waitForRun(runId);
          assert.equal(res.status, "failed");
          assert.match(res.error!.message, /some tasks failed/);
          const recs = new Map(
            (await stack.metadataStore.listStepRuns(runId)).map((r) => [r.step, r]),
          );
          assert.equal(recs.get("right")!.status, "failed");
          assert.match(recs.get("right")!.error!, /non-zero status/);
          assert.equal(recs.get("join")!.status, "skipped");
          fail = undefined;
        },
      );

      await t.step("cancel: POST :cancel, then CANCELLING and CANCELLED", async () => {
        const runId = await o.runPipeline(fan, { stack });
        await o.cancelRun(runId);
        assert.ok(
          srv.requests.includes(
            `POST /v1/projects/my-proj-123/locations/us-central1/pipelineJobs/${runId}:cancel`,
          ),
        );
        assert.equal(await o.getRunStatus(runId), "running", "CANCELLING");
        const res = await o.waitForRun(runId);
        assert.equal(res.status, "cancelled");
      });

      await t.step("a bad token is refused with the server's message", async () => {
        Deno.env.set("TEST_VERTEX_TOKEN", "wrong");
        await assert.rejects(
          o.runPipeline(fan, { stack }),
          /401: Request had invalid authentication/,
        );
        const failed = await stack.metadataStore.listRuns({ status: "failed" });
        const refused = failed.find((r) => /401/.test(r.error ?? ""));
        assert.ok(refused?.endedAt, "the refused run is recorded failed, with its end");
        Deno.env.set("TEST_VERTEX_TOKEN", TOKEN);
      });

      await t.step({
        name: "every submitted spec parses strictly against kfp's proto",
        ignore: !checkerAvailable(),
        fn: async () => {
          const pb = await buildChecker();
          const files = await Promise.all(srv.specs.map(async (s, i) => {
            await Deno.writeTextFile(`${tmp.path}/spec${i}.json`, JSON.stringify(s));
            return `${tmp.path}/spec${i}.json`;
          }));
          for (const r of await checkSpecs(pb, files)) assert.ok(r.ok, r.error ?? "");
          await Deno.remove(pb, { recursive: true });
        },
      });
    } finally {
      await stack?.close();
      await srv.server.shutdown();
      await tmp.cleanup();
    }
  },
});
