/**
 * A hostile audit of the storage paths of issue 16 (small artifacts inline in
 * the SQLite metadata store, group commit, `inline_small_outputs` on a real
 * S3 server, inline results of queue workers), against the three rules:
 *
 * 1. every read is hash-verified: a stored value edited in any way (truncated,
 *    emptied, one bit flipped, swapped, rewritten as SQL TEXT or a number) is
 *    an error naming the artifact or a recompute, never a value;
 * 2. the cache is exact: equal bytes that read back as different values, a
 *    param JSON cannot tell apart (`Infinity`/`-Infinity`/`NaN`/`-0`) and a
 *    serializer's version are part of what a cached result depends on;
 * 3. `kill -9` at a completion (the test-only `FLOWYML_TEST_CRASH_AT` hook),
 *    several times over: every committed record and cache entry verifies, no
 *    step that was not committed is served from the cache, and a plain re-run
 *    completes with the right values, re-running exactly the uncommitted steps.
 *
 * What earlier tests already cover is not repeated here (a corrupted or
 * deleted blob via SQL, resume after `kill -9`, helper-module edits, zeros in
 * an S3 object with inlining off).
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
import { sha256Hex } from "../../kernel/hash.ts";
import type { ArtifactRef } from "../../kernel/records.ts";
import { verifyArtifacts } from "../../kernel/verify.ts";
import { jobBlobs, stageOutputBlobs } from "../../plugins/queue/inline.ts";
import type { StepJobData } from "../../plugins/queue/config.ts";
import {
  buildStack,
  FlowymlError,
  LocalArtifactStore,
  LocalExecutor,
  LocalOrchestrator,
  parseConfig,
  Pipeline,
  registerSerializer,
  SQLiteMetadataStore,
  type Stack,
  Stack as StackClass,
  step,
} from "../../mod.ts";

const CONFIG = new URL("../../deno.json", import.meta.url).pathname;
const FIXTURE = new URL("./fixtures/audit_crash_run.ts", import.meta.url).pathname;
const utf8 = (s: string) => new TextEncoder().encode(s);
const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");

/** A local stack (folder store + SQLite, inline on) in a fresh temp folder. */
async function localStack(): Promise<{ stack: Stack; dir: string; done: () => Promise<void> }> {
  const t = await tempDir("flowyml-audit-");
  const stack = new StackClass("audit", {
    orchestrator: new LocalOrchestrator(),
    executor: new LocalExecutor(),
    artifactStore: new LocalArtifactStore({ path: `${t.path}/artifacts` }),
    metadataStore: new SQLiteMetadataStore({ path: `${t.path}/metadata.db` }),
  });
  return { stack, dir: t.path, done: () => stack.close().then(t.cleanup) };
}

/** Ways to edit a stored blob row behind flowyml's back (`sqlite3` on the file). */
const TAMPER: Record<string, (db: DatabaseSync, hash: string, other: string) => void> = {
  truncated: (db, h) =>
    db.prepare("UPDATE blobs SET bytes = substr(bytes, 1, 4) WHERE hash = ?").run(h),
  emptied: (db, h) => db.prepare("UPDATE blobs SET bytes = X'' WHERE hash = ?").run(h),
  "one bit flipped": (db, h) => {
    const row = db.prepare("SELECT bytes FROM blobs WHERE hash = ?").get(h) as {
      bytes: Uint8Array;
    };
    const b = Uint8Array.from(row.bytes);
    b[b.length >> 1] ^= 0x04;
    db.prepare("UPDATE blobs SET bytes = ? WHERE hash = ?").run(b, h);
  },
  "swapped with another blob": (db, h, other) =>
    db.prepare("UPDATE blobs SET bytes = (SELECT bytes FROM blobs WHERE hash = ?) WHERE hash = ?")
      .run(other, h),
  "rewritten as SQL TEXT": (db, h) =>
    db.prepare(`UPDATE blobs SET bytes = '{"rows":[6,6,6,6]}' WHERE hash = ?`).run(h),
  "rewritten as a number": (db, h) =>
    db.prepare("UPDATE blobs SET bytes = 42 WHERE hash = ?").run(h),
};

Deno.test("audit rule 1: a blob edited in any way is an error naming it, then a recompute", async () => {
  for (const [how, tamper] of Object.entries(TAMPER)) {
    const { stack, dir, done } = await localStack();
    try {
      let made = 0;
      const p = () =>
        new Pipeline("tamper", { stack })
          .add(step({ name: "a", outputs: ["x"] }, () => (made++, { rows: [1, 2, 3] })))
          .add(step({ name: "b", inputs: ["x"], outputs: ["n"] }, ({ x }) => x.rows.length))
          // Never cached: it reads `x` on every run, so a bad `x` would reach it if served.
          .add(step({ name: "c", inputs: ["x"], outputs: ["m"], cache: false }, ({ x }) => {
            return Math.max(...x.rows);
          }));
      const r1 = await p().run();
      assert.equal(r1.status, "completed", String(r1.error));
      const x = r1.steps.a.outputs.x;
      assert.equal(x.inline, true, "small: stored inline");
      await stack.metadataStore.flush();
      const db = new DatabaseSync(`${dir}/metadata.db`);
      tamper(db, x.hash, r1.steps.b.outputs.n.hash);
      db.close();
      const blobs = stack.metadataStore;
      const err = await loadValue(stack.artifactStore, x, { blobs, label: '"x" of step "a"' })
        .then((v) => new Error(`${how}: served ${JSON.stringify(v)}`), (e) => e);
      assert.ok(err instanceof ArtifactIntegrityError, `${how}: ${err}`);
      assert.ok(err.message.includes('"x" of step "a"') && err.message.includes(x.uri), how);
      assert.equal((await checkObject(stack.artifactStore, x, { blobs })).status, "corrupt", how);
      const bad = (await verifyArtifacts(stack)).filter((o) => o.check.status !== "ok");
      assert.deepEqual(bad.map((o) => o.path), [x.path], how);
      const r2 = await p().run();
      assert.equal(r2.status, "completed", `${how}: ${r2.error}`);
      assert.equal(made, 2, `${how}: a re-ran`);
      assert.deepEqual([r2.outputs.n, r2.outputs.m], [3, 3], how);
      assert.equal((await checkObject(stack.artifactStore, x, { blobs })).status, "ok", how);
    } finally {
      await done();
    }
  }
});

Deno.test("audit rule 1: a blob rewritten as SQL TEXT of the same bytes reads back exactly", async () => {
  const { stack, dir, done } = await localStack();
  try {
    const p = new Pipeline("text", { stack })
      .add(step({ name: "a", outputs: ["x"] }, () => ({ rows: [1, 2, 3] })));
    const x = (await p.run()).steps.a.outputs.x;
    await stack.metadataStore.flush();
    const db = new DatabaseSync(`${dir}/metadata.db`);
    db.prepare("UPDATE blobs SET bytes = CAST(bytes AS TEXT) WHERE hash = ?").run(x.hash);
    db.close();
    const v = await loadValue(stack.artifactStore, x, { blobs: stack.metadataStore });
    assert.deepEqual(v, { rows: [1, 2, 3] });
  } finally {
    await done();
  }
});

/** Job data for {@linkcode jobBlobs}: only the inline fields matter to it. */
function jobData(blobs: Record<string, string>): StepJobData {
  return { v: 2, inlineMax: 4096, blobs } as unknown as StepJobData;
}

Deno.test("audit rule 1 (queue inline results): bytes that do not match their hash are refused both ways", async () => {
  const t = await tempDir("flowyml-audit-");
  const meta = new SQLiteMetadataStore({ path: `${t.path}/m.db` });
  try {
    const bytes = utf8('{"rows":[1,2,3]}');
    const hash = sha256Hex(bytes);
    const ref: ArtifactRef = {
      hash,
      path: blobPath(hash),
      uri: `flowyml-job:blobs/${hash}`,
      inline: true,
      size: bytes.byteLength,
      serializer: "json",
      serializerVersion: 1,
    };
    const store = new LocalArtifactStore({ path: `${t.path}/a` });
    for (const bad of [bytes.slice(0, 5), utf8('{"rows":[6,6,6]}'), new Uint8Array()]) {
      // Worker side: an inline input whose bytes changed on the way is never a value.
      const blobs = jobBlobs(jobData({ [hash]: b64(bad) }));
      const err = await loadValue(store, ref, { blobs, label: 'input "x" of step "b"' })
        .then(() => undefined, (e) => e);
      assert.ok(err instanceof ArtifactIntegrityError && /input "x" of step "b"/.test(err.message));
      // Driver side: a result's bytes that are not its reference's are not staged.
      assert.throws(
        () => stageOutputBlobs({ x: ref }, { [hash]: b64(bad) }, { meta, step: "a" }),
        (e: Error) => e instanceof ArtifactIntegrityError && /step "a" output "x"/.test(e.message),
      );
      assert.equal(await meta.getBlob(hash), undefined, "nothing staged");
    }
    assert.throws(
      () => stageOutputBlobs({ x: ref }, {}, { meta, step: "a" }),
      (e: Error) => e instanceof FlowymlError && /carries no bytes/.test(e.message),
    );
    stageOutputBlobs({ x: ref }, { [hash]: b64(bytes) }, { meta, step: "a" });
    assert.deepEqual(await loadValue(store, ref, { blobs: meta }), { rows: [1, 2, 3] });
  } finally {
    meta.close();
    await t.cleanup();
  }
});

/** What a consumer step reports about the value it got: type, class and text. */
const describe = (x: unknown) =>
  `${typeof x}:${(x as object)?.constructor?.name}:${
    ArrayBuffer.isView(x) ? [...(x as Uint8Array)] : x
  }`;

Deno.test("audit rule 2: equal bytes that read back as different values never share a cached result", async () => {
  const { stack, done } = await localStack();
  try {
    // Each group stores the same bytes under different serializers (json, string, bytes,
    // typed_array with another meta.type): the consumer must see each value as it is.
    const groups: unknown[][] = [
      [1, "1", Uint8Array.of(49), Int8Array.of(49)],
      [Float64Array.of(1), BigInt64Array.of(4607182418800017408n)],
    ];
    for (const pass of ["computed", "cached"]) {
      for (const [g, values] of groups.entries()) {
        const hashes = new Set<string>();
        for (const [i, v] of values.entries()) {
          const r = await new Pipeline("bytes", { stack })
            .add(step({ name: "make", outputs: ["x"], cacheSalt: `${g}.${i}` }, () => v))
            .add(step({ name: "use", inputs: ["x"], outputs: ["t"] }, ({ x }) => describe(x)))
            .run();
          assert.equal(r.status, "completed", String(r.error));
          hashes.add(r.steps.make.outputs.x.hash);
          assert.equal(r.outputs.t, describe(v), `${pass}: ${describe(v)}`);
          assert.equal(r.steps.use.cached, pass === "cached", `${pass}: ${describe(v)}`);
        }
        assert.equal(hashes.size, 1, "the premise: one content hash for the whole group");
      }
    }
  } finally {
    await done();
  }
});

Deno.test("audit rule 2: params JSON cannot tell apart (Infinity, -Infinity, NaN, -0) are refused; null, 0 and 2 stay apart", async () => {
  const { stack, done } = await localStack();
  try {
    const below = (max: unknown) => [1, 2, 3].filter((v) => v < (max as number)).length;
    const p = () =>
      new Pipeline("params", { stack })
        .add(step({ name: "below", outputs: ["k"] }, (_i, ctx) => below(ctx.params.max)));
    // A worker or a resumed run would see `null` for these (params are recorded as JSON): no
    // run starts, nothing is recorded, and the error names the param.
    for (const max of [Infinity, -Infinity, NaN, -0]) {
      await assert.rejects(p().run({ params: { max } }), /run param "max" is .*JSON/);
    }
    assert.deepEqual(await stack.metadataStore.listRuns({ pipeline: "params" }), []);
    for (const pass of ["computed", "cached"]) {
      for (const max of [null, 0, 2]) {
        const r = await p().run({ params: { max } });
        assert.equal(r.status, "completed", String(r.error));
        assert.equal(r.outputs.k, below(max), `${pass}: max=${max}`);
        assert.equal(r.steps.below.cached, pass === "cached", `${pass}: max=${max}`);
      }
    }
  } finally {
    await done();
  }
});

class Box {
  constructor(readonly n: number) {}
}

Deno.test("audit rule 2: bumping a serializer's version re-runs the steps, cached results stay exact", async () => {
  const { stack, done } = await localStack();
  const box = (version: number) =>
    registerSerializer({
      name: "audit_box",
      version,
      canHandle: (v) => v instanceof Box,
      serialize: (b) => ({ bytes: utf8(String((b as Box).n)) }),
      deserialize: (bytes) => new Box(Number(new TextDecoder().decode(bytes))),
    });
  try {
    let runs = 0;
    const p = () =>
      new Pipeline("boxed", { stack })
        .add(step({ name: "make", outputs: ["b"] }, () => (runs++, new Box(3))))
        .add(step({ name: "use", inputs: ["b"], outputs: ["n"] }, ({ b }) => (b as Box).n * 2));
    box(1);
    const r1 = await p().run();
    assert.equal(r1.steps.make.outputs.b.serializer, "audit_box");
    assert.equal(r1.steps.make.outputs.b.inline, true);
    const r2 = await p().run();
    assert.ok(r2.steps.make.cached && r2.steps.use.cached, "same serializer version: hits");
    box(2);
    const r3 = await p().run();
    assert.equal(r3.steps.make.cached || r3.steps.use.cached, false, "version 2: misses");
    assert.equal(runs, 2);
    assert.equal(r3.outputs.n, 6);
  } finally {
    await done();
  }
});

/**
 * A local stack whose SQLite store gives up waiting for a lock after 20 ms, and a step `hold`
 * that, while `lock.on`, holds that database locked for 150 ms, as another process would.
 */
async function lockedStack(name: string) {
  const t = await tempDir("flowyml-audit-");
  const db = `${t.path}/metadata.db`;
  const stack = new StackClass(name, {
    orchestrator: new LocalOrchestrator(),
    executor: new LocalExecutor(),
    artifactStore: new LocalArtifactStore({ path: `${t.path}/artifacts` }),
    metadataStore: new SQLiteMetadataStore({ path: db, busyTimeoutMs: 20 }),
  });
  const lock = { on: true };
  const ran: string[] = [];
  const hold = step({ name: "hold", outputs: ["h"] }, async () => {
    ran.push("hold");
    const other = lock.on ? new DatabaseSync(db) : undefined;
    other?.exec("BEGIN IMMEDIATE");
    await sleep(150);
    other?.exec("COMMIT");
    other?.close();
    return 1;
  });
  return { db, stack, lock, ran, hold, done: () => stack.close().then(t.cleanup) };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

Deno.test("audit rule 3: a group commit that fails (database locked) fails the run; its step re-runs", async () => {
  const { db, stack, lock, ran, hold, done } = await lockedStack("locked");
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
    await done();
  }
});

Deno.test("audit rule 3: after a failed group commit, no committed record names the lost step's output", async () => {
  const { db, stack, lock, ran, hold, done } = await lockedStack("lost");
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
    await done();
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
