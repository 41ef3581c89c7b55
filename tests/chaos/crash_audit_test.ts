/**
 * A hostile audit of what survives a failure of the SQLite group commit and a
 * `kill -9` (issue 16's third rule; rules 1 and 2 are in
 * integrity_audit_test.ts): a commit that fails (database locked) fails the run
 * and leaves no record naming what it lost; `kill -9` at a completion (the
 * test-only `FLOWYML_TEST_CRASH_AT` hook), several times over, leaves every
 * committed record and cache entry verifying, serves no uncommitted step from
 * the cache, and a plain re-run completes with the right values, re-running
 * exactly the uncommitted steps (also on a real S3 server with
 * `inline_small_outputs`, then with a tampered blob and a truncated object).
 * @module
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { DatabaseSync } from "node:sqlite";
import { requireService, tempDir } from "../_helpers.ts";
import { rawS3Client, startS3, SWIFT_HOW, swiftAvailable } from "../services/s3.ts";
import {
  ArtifactIntegrityError,
  blobPath,
  checkObject,
  loadValue,
  objectPath,
} from "../../kernel/artifacts.ts";
import type { ArtifactRef } from "../../kernel/records.ts";
import { verifyArtifacts } from "../../kernel/verify.ts";
import { buildStack, parseConfig, Pipeline, type Stack, step } from "../../mod.ts";
import { lockedStack } from "../kernel/_stack.ts";

const CONFIG = new URL("../../deno.json", import.meta.url).pathname;
const FIXTURE = new URL("./fixtures/audit_crash_run.ts", import.meta.url).pathname;
const utf8 = (s: string) => new TextEncoder().encode(s);

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

Deno.test("audit rule 3: a group commit that fails (database locked) fails the run; its step re-runs", async () => {
  const { db, stack, lock, ran, hold, cleanup } = await lockedStack();
  try {
    // `a`'s completion and `hold`'s "running" record (after 50 ms) cannot be written meanwhile.
    const p = () =>
      new Pipeline("locked", { stack, concurrency: 2 })
        .add(hold)
        .add(step({ name: "a", outputs: ["x"] }, async () => {
          ran.push("a");
          await sleep(20);
          return { v: 41 };
        }));
    const r1 = await p().run();
    assert.equal(r1.status, "failed", "a completion that was not committed fails the run");
    assert.match(String(r1.error), /locked/);
    const ro = new DatabaseSync(db, { readOnly: true });
    const rows = ro.prepare("SELECT step FROM cache_entries").all() as { step: string }[];
    ro.close();
    assert.deepEqual(rows.map((r) => r.step), ["hold"], "no entry for the uncommitted step");
    lock.on = false;
    ran.length = 0;
    const r2 = await p().run();
    assert.equal(r2.status, "completed", String(r2.error));
    assert.deepEqual(ran, ["a"], "the uncommitted step runs again, the committed one is a hit");
    assert.deepEqual(r2.outputs.x, { v: 41 });
  } finally {
    await cleanup();
  }
});

Deno.test("audit rule 3: after a failed group commit, no committed record names the lost step's output", async () => {
  const { db, stack, lock, ran, hold, cleanup } = await lockedStack();
  try {
    // `a`'s completion (and the bytes of its small output) cannot be committed. `b` consumes
    // `a`'s output and ends after the lock is gone; `free` depends on nothing and ends after it.
    const p = () =>
      new Pipeline("lost", { stack, concurrency: 3 })
        .add(hold)
        .add(step({ name: "a", outputs: ["x"] }, async () => {
          ran.push("a");
          await sleep(20);
          return { v: 41 };
        }))
        .add(step({ name: "b", inputs: ["x"], outputs: ["y"] }, async ({ x }) => {
          ran.push("b");
          await sleep(250);
          return (x as { v: number }).v + 1;
        }))
        .add(step({ name: "free", outputs: ["f"] }, async () => {
          ran.push("free");
          await sleep(250);
          return "f";
        }));
    const r1 = await p().run();
    assert.equal(r1.status, "failed", "a completion that was not committed fails the run");
    const ro = new DatabaseSync(db, { readOnly: true });
    const q = (sql: string) => ro.prepare(sql).all() as Record<string, string>[];
    const recorded = q(`SELECT step FROM step_runs WHERE run_id = '${r1.runId}' ORDER BY step`);
    const dangling = q(
      `SELECT l.step, l.name FROM lineage l WHERE l.run_id = '${r1.runId}' AND NOT EXISTS
         (SELECT 1 FROM artifacts a WHERE a.hash = l.hash)`,
    );
    const cached = q("SELECT step FROM cache_entries ORDER BY step");
    ro.close();
    assert.deepEqual(dangling, [], "no lineage edge names an artifact that was not recorded");
    assert.ok(!recorded.some((r) => r.step === "a" || r.step === "b"), JSON.stringify(recorded));
    assert.deepEqual(
      cached.map((r) => r.step),
      ["free", "hold"],
      "independent steps stay recorded",
    );
    lock.on = false;
    ran.length = 0;
    const r2 = await p().run();
    assert.equal(r2.status, "completed", String(r2.error));
    assert.deepEqual(ran.sort(), ["a", "b"], "the lost step and its consumer run again");
    assert.equal(r2.outputs.y, 42);
  } finally {
    await cleanup();
  }
});

// ---------------------------------------------------------------------------------------------
// Rule 3: kill -9 at a completion, then plain re-runs (not resume).

const ALL = [
  "seed",
  ...Array.from({ length: 8 }, (_, i) => `w${i}`),
  "join",
  ...Array.from({ length: 5 }, (_, k) => `c${k + 1}`),
  "total",
];

/** Run the fixture once in `dir`; with `crashAt`, it is killed right after that completion. */
async function runFixture(dir: string, crashAt?: number) {
  const env: Record<string, string> = crashAt
    ? { FLOWYML_TEST_CRASH_AT: `completion:${crashAt}` }
    : {};
  await Deno.writeTextFile(`${dir}/ledger.txt`, "");
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", CONFIG, FIXTURE, dir],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  const ran = (await Deno.readTextFile(`${dir}/ledger.txt`)).split("\n").filter(Boolean);
  return {
    code: out.code,
    signal: out.signal,
    stdout: text(out.stdout),
    stderr: text(out.stderr),
    ran,
  };
}

/** Steps that have a committed cache entry, in any run (none before the first run). */
function cachedSteps(db: string): Set<string> {
  try {
    Deno.statSync(db);
  } catch {
    return new Set();
  }
  const d = new DatabaseSync(db, { readOnly: true });
  try {
    const rows = d.prepare("SELECT DISTINCT step FROM cache_entries").all() as { step: string }[];
    return new Set(rows.map((r) => r.step));
  } finally {
    d.close();
  }
}

/**
 * After a kill: the killed run's committed records and cache entries name the same steps, and
 * every output they (and its lineage) name verifies. Returns the steps the killed run committed.
 */
async function assertConsistent(stack: Stack, db: string): Promise<Set<string>> {
  const d = new DatabaseSync(db, { readOnly: true });
  const q = (sql: string, ...a: string[]) => d.prepare(sql).all(...a) as Record<string, string>[];
  const [run] = q("SELECT run_id FROM runs WHERE status = 'running'");
  assert.ok(run, "the killed run is recorded as running (shown as crashed)");
  const runId = run.run_id;
  const done = q("SELECT step FROM step_runs WHERE run_id = ? AND status = 'completed'", runId);
  const entries = q("SELECT step, outputs FROM cache_entries WHERE run_id = ?", runId);
  d.close();
  const committed = new Set(done.map((r) => r.step));
  assert.deepEqual(new Set(entries.map((e) => e.step)), committed, "a cache entry per record");
  const blobs = { blobs: stack.metadataStore };
  const check = async (ref: Parameters<typeof checkObject>[1], what: string) =>
    assert.equal((await checkObject(stack.artifactStore, ref, blobs)).status, "ok", what);
  for (const s of await stack.metadataStore.listStepRuns(runId)) {
    for (const ref of Object.values(s.outputs ?? {})) await check(ref, `output of ${s.step}`);
  }
  for (const e of entries) {
    for (const ref of Object.values(JSON.parse(e.outputs))) {
      await check(ref as ArtifactRef, `cache entry of ${e.step}`);
    }
  }
  for (const e of await stack.metadataStore.getLineage({ runId })) {
    const inline = e.uri.includes("#blobs/");
    const path = inline ? blobPath(e.hash) : objectPath(e.hash);
    await check({ hash: e.hash, path, inline }, `lineage ${e.uri}`);
  }
  return committed;
}

/**
 * Kill the run at each of `crashes` in turn (each a fresh process on the same stores), check the
 * stores after each, then re-run to the end: every step with a committed cache entry is served
 * from the cache and every other step runs, and the value is right.
 */
async function chaos(dir: string, db: string, open: () => Promise<Stack>, crashes: number[]) {
  for (const [i, at] of crashes.entries()) {
    const before = cachedSteps(db);
    const r = await runFixture(dir, at);
    assert.equal(r.signal, "SIGKILL", `crash ${at}: ${r.stdout}${r.stderr}`);
    assert.deepEqual(r.ran.filter((s) => before.has(s)), [], "no committed step ran again");
    const stack = await open();
    try {
      const committed = await assertConsistent(stack, db);
      const lost = r.ran.filter((s) => !committed.has(s));
      for (const s of committed) assert.ok(r.ran.includes(s), `${s} committed but never ran`);
      if (i === 0) {
        assert.ok(lost.length >= 1, "the completion queued at the kill is not committed");
      }
    } finally {
      await stack.close();
    }
    // Mark the killed run as not running, so the next check finds only the next killed run.
    const w = new DatabaseSync(db);
    w.prepare("UPDATE runs SET status = 'failed' WHERE status = 'running'").run();
    w.close();
  }
  const cached = cachedSteps(db);
  const r = await runFixture(dir);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const summary = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
  assert.deepEqual([summary.status, summary.total], ["completed", 534]);
  assert.deepEqual(
    r.ran.sort(),
    ALL.filter((s) => !cached.has(s)).sort(),
    "exactly the uncommitted steps ran",
  );
  const again = await runFixture(dir);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(again.ran, [], "everything is a hit now");
  const stack = await open();
  try {
    const bad = (await verifyArtifacts(stack)).filter((o) => o.check.status !== "ok");
    assert.deepEqual(bad, []);
  } finally {
    await stack.close();
  }
}

Deno.test("audit rule 3: kill -9 at completions, three times over; a plain re-run completes exactly", async () => {
  const t = await tempDir("flowyml-audit-");
  try {
    const yaml = `stacks:
  audit:
    artifact_store: { type: local, path: ${t.path}/artifacts }
    metadata_store: { type: sqlite, path: ${t.path}/metadata.db }
`;
    await Deno.writeTextFile(`${t.path}/flowyml.yaml`, yaml);
    const open = () => buildStack(parseConfig(yaml), "audit");
    await chaos(t.path, `${t.path}/metadata.db`, open, [6, 3, 2]);
  } finally {
    await t.cleanup();
  }
});

const s3ok = requireService("OpenStack Swift (s3api)", swiftAvailable(), SWIFT_HOW);

Deno.test({
  name:
    "audit (minio, inline_small_outputs): kill -9 mid-run, then tampered blob and truncated object",
  ignore: !s3ok,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const s3 = await startS3();
  const t = await tempDir("flowyml-audit-");
  try {
    const yaml = `stacks:
  audit:
    artifact_store:
      type: minio
      endpoint: ${s3.endpoint}
      bucket: audit
      access_key: "${s3.accessKey}"
      secret_key: "${s3.secretKey}"
      create_bucket: true
      inline_small_outputs: true
    metadata_store: { type: sqlite, path: ${t.path}/metadata.db }
`;
    await Deno.writeTextFile(`${t.path}/flowyml.yaml`, yaml);
    const db = `${t.path}/metadata.db`;
    const open = () => buildStack(parseConfig(yaml), "audit");
    await chaos(t.path, db, open, [5]);
    await tamperRemote(t.path, db, open, s3);
  } finally {
    await t.cleanup();
    await s3.stop();
  }
});

/**
 * On the minio stack: rewrite w1's inline output in the blobs table and truncate w2's object in
 * the bucket (through a plain S3 client). Both are caught; a re-run recomputes exactly those two
 * steps (their consumers are hits: same values, same hashes) and the total is right.
 */
async function tamperRemote(
  dir: string,
  db: string,
  open: () => Promise<Stack>,
  s3: Awaited<ReturnType<typeof startS3>>,
) {
  const stack = await open();
  let small: ArtifactRef, big: ArtifactRef;
  try {
    const [run] = await stack.metadataStore.listRuns({ pipeline: "audit", status: "completed" });
    const steps = await stack.metadataStore.listStepRuns(run.runId);
    small = steps.find((s) => s.step === "w1")!.outputs!.p1; // 14: no other step's value
    big = steps.find((s) => s.step === "w2")!.outputs!.p2;
    assert.equal(small.inline, true);
    assert.match(big.uri, /^s3:\/\/audit\/objects\//);
  } finally {
    await stack.close();
  }
  const d = new DatabaseSync(db);
  d.prepare("UPDATE blobs SET bytes = ? WHERE hash = ?").run(utf8("8"), small.hash);
  d.close();
  const whole = new Uint8Array(
    await (await fetch(await rawS3Client(s3).presignedGetObject("audit", big.path))).arrayBuffer(),
  );
  const cut = Buffer.from(whole.subarray(0, whole.byteLength - 8));
  await rawS3Client(s3).putObject("audit", big.path, cut, cut.length);
  const stack2 = await open();
  try {
    const bad = (await verifyArtifacts(stack2)).filter((o) => o.check.status !== "ok");
    assert.deepEqual(bad.map((o) => o.path).sort(), [small.path, big.path].sort());
    for (const ref of [small, big]) {
      const err = await loadValue(stack2.artifactStore, ref, { blobs: stack2.metadataStore })
        .then(() => undefined, (e) => e);
      assert.ok(
        err instanceof ArtifactIntegrityError && err.message.includes(ref.uri),
        String(err),
      );
    }
  } finally {
    await stack2.close();
  }
  const r = await runFixture(dir);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(JSON.parse(r.stdout.trim().split("\n").at(-1)!).total, 534);
  assert.deepEqual(r.ran.sort(), ["w1", "w2"]);
}
