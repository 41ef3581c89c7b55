/**
 * Issue 10, case 4: interrupted runs never stay `running`. Each test is a
 * project outside the repo run with `flowyml run` (a parent CLI and its
 * least-privilege child pipeline process), stopped as a user would stop it.
 */
import assert from "node:assert/strict";
import { tempDir } from "../_helpers.ts";
import { flowyml, pidRunning, showRun, spawnFlowyml } from "./_cli.ts";
import { SQLiteMetadataStore } from "../../mod.ts";

// `train` waits (honouring ctx.signal) unless a file named `fast` exists; the child of
// `flowyml run` may not read the project folder, so there it always waits.
const PIPELINE = `
import { Pipeline, step } from "flowyml";
const prep = step({ name: "prep", outputs: ["rows"] }, () => [1, 2, 3]);
const train = step({ name: "train", inputs: ["rows"], outputs: ["model"] }, async ({ rows }, ctx) => {
  const fast = await Deno.stat("fast").then(() => true, () => false);
  ctx.log(\`training pid=\${Deno.pid}\`);
  if (!fast) {
    await new Promise((resolve, reject) => {
      const t = setTimeout(resolve, 300_000);
      ctx.signal.addEventListener("abort", () => { clearTimeout(t); reject(ctx.signal.reason); });
    });
  }
  return rows.length;
});
const report = step({ name: "report", inputs: ["model"], outputs: ["report"] }, ({ model }) => \`n=\${model}\`);
export default new Pipeline("lifecycle").add(prep).add(train).add(report);
`;

async function project() {
  const t = await tempDir();
  await Deno.writeTextFile(`${t.path}/pipeline.ts`, PIPELINE);
  return t;
}

async function onlyRunId(cwd: string): Promise<string> {
  const list = await flowyml(cwd, ["runs", "list"]);
  const ids = list.stdout.match(/lifecycle-\S+/g) ?? [];
  assert.equal(ids.length, 1, list.stdout);
  return ids[0];
}

Deno.test("lifecycle: SIGINT to `flowyml run` cancels the run, exit 130 with one line", async () => {
  const t = await project();
  try {
    const p = spawnFlowyml(t.path, ["run", "pipeline.ts"]);
    await p.waitFor(/training pid=\d+/);
    p.child.kill("SIGINT");
    const r = await p.finish();
    assert.equal(r.code, 130, r.stderr);
    const lines = r.stderr.split("\n").filter((l) => /cancelled/.test(l));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /run cancelled \(SIGINT\) while step "train" ran/);
    const runId = /flowyml: (lifecycle-\S+):/.exec(lines[0])![1];
    const shown = await showRun(t.path, runId);
    assert.equal(shown.run.status, "cancelled");
    const st = Object.fromEntries(shown.steps.map((s) => [s.step, s]));
    assert.equal(st.prep.status, "completed");
    assert.equal(st.train.status, "cancelled");
    assert.equal(st.report.status, "skipped");
  } finally {
    await t.cleanup();
  }
});

Deno.test("lifecycle: SIGTERM to `flowyml run` exits 143 and the child process is gone", async () => {
  const t = await project();
  try {
    const p = spawnFlowyml(t.path, ["run", "pipeline.ts"]);
    const childPid = Number((await p.waitFor(/training pid=(\d+)/))[1]);
    assert.notEqual(childPid, p.child.pid, "the step runs in the child pipeline process");
    p.child.kill("SIGTERM");
    const r = await p.finish();
    assert.equal(r.code, 143, r.stderr);
    assert.equal(pidRunning(childPid), false, "the child pipeline process exited with its parent");
    const shown = await showRun(t.path, await onlyRunId(t.path));
    assert.equal(shown.run.status, "cancelled");
    assert.match(shown.run.error ?? "", /SIGTERM/);
    assert.equal(shown.run.pid, childPid, "the run records the process driving it");
  } finally {
    await t.cleanup();
  }
});

Deno.test("lifecycle: the child cancels its run when `flowyml run` is killed with SIGKILL", async () => {
  const t = await project();
  try {
    const p = spawnFlowyml(t.path, ["run", "pipeline.ts"]);
    const childPid = Number((await p.waitFor(/training pid=(\d+)/))[1]);
    p.child.kill("SIGKILL");
    await p.finish(); // our pipes stay open until the orphaned child has exited too
    assert.equal(pidRunning(childPid), false);
    const shown = await showRun(t.path, await onlyRunId(t.path));
    assert.equal(shown.run.status, "cancelled");
    assert.match(shown.run.error ?? "", /parent process exited/);
  } finally {
    await t.cleanup();
  }
});

Deno.test("lifecycle: kill -9 of the driving process shows `crashed`; runs resume takes it over", async () => {
  const t = await project();
  try {
    const p = spawnFlowyml(t.path, ["run", "pipeline.ts"]);
    const childPid = Number((await p.waitFor(/training pid=(\d+)/))[1]);
    Deno.kill(childPid, "SIGKILL");
    const r = await p.finish();
    assert.notEqual(r.code, 0);
    const runId = await onlyRunId(t.path);
    const list = await flowyml(t.path, ["runs", "list"]);
    assert.match(list.stdout, new RegExp(`${runId}\\s+lifecycle\\s+crashed`));
    const crashed = await flowyml(t.path, ["runs", "list", "--status", "crashed"]);
    assert.match(crashed.stdout, new RegExp(runId));
    const text = await flowyml(t.path, ["runs", "show", runId]);
    assert.match(text.stdout, /status crashed/);
    assert.match(text.stdout, new RegExp(`pid ${childPid}`));
    // Take over: the step is quick now, and the run completes.
    await Deno.writeTextFile(`${t.path}/fast`, "");
    const resumed = await flowyml(t.path, ["runs", "resume", runId, "--quiet"]);
    assert.equal(resumed.code, 0, resumed.stderr + resumed.stdout);
    const shown = await showRun(t.path, runId);
    assert.equal(shown.run.status, "completed");
    assert.ok(shown.steps.every((s) => s.status === "completed"), JSON.stringify(shown.steps));
  } finally {
    await t.cleanup();
  }
});

Deno.test("lifecycle: a run on another host is `crashed` once its heartbeat is stale (FLOWYML_RUN_STALE_MS)", async () => {
  const t = await project();
  try {
    const meta = new SQLiteMetadataStore({ path: `${t.path}/.flowyml/metadata.db` });
    const now = Date.now();
    await meta.createRun({
      runId: "lifecycle-elsewhere",
      pipeline: "lifecycle",
      status: "running",
      stack: "local",
      params: {},
      startedAt: now - 120_000,
      pid: 4_000_000, // not a pid of this host: the host decides, not the pid
      host: "another-host.invalid",
      heartbeatAt: now - 10_000,
    });
    meta.close();
    const fresh = await flowyml(t.path, ["runs", "list"]);
    assert.match(fresh.stdout, /lifecycle-elsewhere\s+lifecycle\s+running/);
    const stale = await flowyml(t.path, ["runs", "list"], { FLOWYML_RUN_STALE_MS: "5000" });
    assert.match(stale.stdout, /lifecycle-elsewhere\s+lifecycle\s+crashed/);
    // A live run is never taken over.
    const resume = await flowyml(t.path, ["runs", "resume", "lifecycle-elsewhere"]);
    assert.equal(resume.code, 1);
    assert.match(resume.stderr, /is still running \(pid 4000000 on another-host\.invalid/);
  } finally {
    await t.cleanup();
  }
});
