/**
 * Issue 16: small artifacts stored inline in the SQLite metadata store (in
 * the transaction of the step that made them) and group commit. Inline
 * blobs are read, verified and reported exactly like objects: a corrupt one
 * is an `ArtifactIntegrityError` naming the artifact, its URI and both
 * hashes, a cache miss, and `artifacts verify` lists it. A `kill -9` of a
 * real run process leaves a consistent database, and resume completes it.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  ArtifactIntegrityError,
  checkObject,
  loadValue,
  objectPath,
} from "../../kernel/artifacts.ts";
import { lookupCache } from "../../kernel/cache.ts";
import { verifyArtifacts } from "../../kernel/verify.ts";
import { SQLiteMetadataStore } from "../../plugins/sqlite/metadata_store.ts";
import { requireService, tempDir } from "../_helpers.ts";
import { POSTGRES_HOW, postgresAvailable, startPostgres } from "../services/postgres.ts";
import { PostgresMetadataStore } from "../../plugins/postgres/metadata_store.ts";
import {
  LocalArtifactStore,
  LocalExecutor,
  LocalOrchestrator,
  Pipeline,
  Stack,
  step,
} from "../../mod.ts";
import { tempStack } from "./_stack.ts";

const CONFIG = new URL("../../deno.json", import.meta.url).pathname;
const big = () => Float64Array.from({ length: 10_000 }, (_, i) => i); // 80 KB: an object

function small(stack: Stack) {
  return new Pipeline("inline", { stack })
    .add(step({ name: "a", outputs: ["x"] }, () => ({ rows: [1, 2, 3] })))
    .add(step({ name: "b", outputs: ["big"] }, big))
    .add(step({ name: "c", inputs: ["x", "big"], outputs: ["y"] }, ({ x, big }) => {
      return x.rows.length + big[9_999];
    }));
}

Deno.test("inline: small outputs live in the metadata store, large ones are objects; all verify", async () => {
  const { stack, dir, cleanup } = await tempStack();
  try {
    const r = await small(stack).run();
    assert.equal(r.status, "completed", String(r.error));
    assert.equal(r.outputs.y, 3 + 9_999);
    const x = r.steps.a.outputs.x;
    assert.equal(x.inline, true);
    assert.equal(x.path, `blobs/${x.hash}`);
    assert.match(x.uri, /^sqlite:.*metadata\.db#blobs\/[0-9a-f]{64}$/);
    assert.equal(await stack.artifactStore.exists(objectPath(x.hash)), false, "no object file");
    const b = r.steps.b.outputs.big;
    assert.equal(b.inline, undefined);
    assert.equal(await stack.artifactStore.exists(b.path), true);
    // Committed before run() resolved: another connection sees every record and blob.
    const other = new DatabaseSync(`${dir}/metadata.db`, { readOnly: true });
    const n = (sql: string) => Number((other.prepare(sql).get() as { n: number }).n);
    assert.equal(n(`SELECT COUNT(*) n FROM step_runs WHERE status = 'completed'`), 3);
    assert.equal(n("SELECT COUNT(*) n FROM blobs"), 2); // x and y
    other.close();
    const arts = await stack.metadataStore.listArtifacts(r.runId);
    assert.equal(arts.find((a) => a.name === "x")?.inline, true);
    const all = await verifyArtifacts(stack);
    assert.ok(all.length >= 3 && all.every((o) => o.check.status === "ok"), JSON.stringify(all));
    assert.ok(all.some((o) => o.path === x.path && o.usedBy.length));
    // A second run is served from the cache, inline outputs included.
    const again = await small(stack).run();
    assert.ok(Object.values(again.steps).every((s) => s.cached));
    assert.equal(again.outputs.y, 3 + 9_999);
  } finally {
    await cleanup();
  }
});

Deno.test("inline: a corrupt blob is an integrity error, a cache miss and reported by verify", async () => {
  const { stack, dir, cleanup } = await tempStack();
  try {
    const r1 = await small(stack).run();
    const x = r1.steps.a.outputs.x;
    await stack.metadataStore.flush();
    const db = new DatabaseSync(`${dir}/metadata.db`);
    db.prepare("UPDATE blobs SET bytes = ? WHERE hash = ?").run(
      new TextEncoder().encode('{"rows":[6,6,6]}'),
      x.hash,
    );
    const err = await loadValue(stack.artifactStore, x, {
      label: `"x" of step "a"`,
      blobs: stack.metadataStore,
    }).then(() => undefined, (e) => e);
    assert.ok(err instanceof ArtifactIntegrityError, String(err));
    assert.equal(err.uri, x.uri);
    assert.equal(err.expected, x.hash);
    assert.match(err.message, /"x" of step "a"/);
    assert.match(err.message, new RegExp(`${x.hash}[\\s\\S]*|${err.actual}`));
    assert.ok(err.message.includes(err.actual) && err.message.includes(x.uri));
    const bad = (await verifyArtifacts(stack)).filter((o) => o.check.status !== "ok");
    assert.deepEqual(bad.map((o) => [o.path, o.check.status]), [[x.path, "corrupt"]]);
    // The cache does not serve it: step a re-runs and rewrites the blob; c is then a hit.
    const r2 = await small(stack).run();
    assert.equal(r2.steps.a.cached, false);
    assert.equal(r2.steps.b.cached, true);
    assert.equal(r2.outputs.y, 3 + 9_999);
    assert.equal(
      (await checkObject(stack.artifactStore, x, { blobs: stack.metadataStore })).status,
      "ok",
    );
    // A deleted blob is missing: a miss again, and a final output that cannot load is an error.
    db.prepare("DELETE FROM blobs WHERE hash = ?").run(r2.steps.c.outputs.y.hash);
    db.close();
    const y = r2.steps.c.outputs.y;
    assert.equal(
      (await checkObject(stack.artifactStore, y, { blobs: stack.metadataStore })).status,
      "missing",
    );
    const r3 = await small(stack).run();
    assert.equal(r3.steps.c.cached, false);
    assert.equal(r3.outputs.y, 3 + 9_999);
  } finally {
    await cleanup();
  }
});

Deno.test("inline: off with inlineMaxBytes 0, and inline cache entries are misses where readers cannot reach them", async () => {
  const off = await tempStack({ inlineMaxBytes: 0 });
  const on = await tempStack();
  try {
    const r = await small(off.stack).run();
    assert.ok(
      Object.values(r.steps).every((s) => Object.values(s.outputs).every((o) => !o.inline)),
    );
    assert.equal(await off.stack.artifactStore.exists(r.steps.a.outputs.x.path), true);
    const r2 = await small(on.stack).run();
    const rec = (await on.stack.metadataStore.listStepRuns(r2.runId)).find((s) => s.step === "a")!;
    const key = rec.cacheKey!;
    assert.ok(await lookupCache(on.stack, key, { params: {}, inline: true }));
    assert.equal(await lookupCache(on.stack, key, { params: {}, inline: false }), undefined);
  } finally {
    await off.cleanup();
    await on.cleanup();
  }
});

Deno.test({
  name:
    "inline (PostgreSQL store): small outputs in the blobs table, verified; corruption is caught",
  ignore: !requireService("PostgreSQL 15", postgresAvailable(), POSTGRES_HOW),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const pg = await startPostgres();
    const t = await tempDir();
    const meta = new PostgresMetadataStore({ url: await pg.createDatabase("inline") });
    const stack = new Stack("pg", {
      orchestrator: new LocalOrchestrator(),
      executor: new LocalExecutor(),
      artifactStore: new LocalArtifactStore({ path: `${t.path}/a` }),
      metadataStore: meta,
    });
    try {
      const r = await small(stack).run();
      assert.equal(r.status, "completed", String(r.error));
      assert.equal(r.outputs.y, 3 + 9_999);
      const x = r.steps.a.outputs.x;
      assert.equal(x.inline, true);
      assert.match(x.uri, /^postgres:.*#blobs\/[0-9a-f]{64}$/);
      assert.deepEqual(await meta.getBlob(x.hash), new TextEncoder().encode('{"rows":[1,2,3]}'));
      assert.ok((await verifyArtifacts(stack)).every((o) => o.check.status === "ok"));
      assert.ok(Object.values((await small(stack).run()).steps).every((s) => s.cached));
      const sql = await meta.sql();
      await sql`UPDATE blobs SET bytes = ${new TextEncoder().encode("{}")} WHERE hash = ${x.hash}`;
      const err = await loadValue(stack.artifactStore, x, { blobs: meta }).catch((e) => e);
      assert.ok(err instanceof ArtifactIntegrityError && err.uri === x.uri, String(err));
      const bad = (await verifyArtifacts(stack)).filter((o) => o.check.status !== "ok");
      assert.deepEqual(bad.map((o) => o.check.status), ["corrupt"]);
      const again = await small(stack).run();
      assert.equal(again.steps.a.cached, false, "a corrupt blob is a cache miss");
      assert.equal(again.outputs.y, 3 + 9_999);
    } finally {
      await stack.close();
      await t.cleanup();
      await pg.stop();
    }
  },
});

/** The run process: a chain of 300 steps (every 25th output is an 80 KB object), 2 ms each. */
const CHAIN = `
import { Pipeline, step, Stack, LocalOrchestrator, LocalExecutor, LocalArtifactStore, SQLiteMetadataStore } from "${
  new URL("../../mod.ts", import.meta.url).href
}";
const [dir, resume] = Deno.args;
const stack = new Stack("k", {
  orchestrator: new LocalOrchestrator(),
  executor: new LocalExecutor(),
  artifactStore: new LocalArtifactStore({ path: dir + "/a" }),
  metadataStore: new SQLiteMetadataStore({ path: dir + "/m.db" }),
});
const N = 300;
const p = new Pipeline("killed", { stack, concurrency: 1 });
const val = (i, v) => i % 25 === 0 ? Float64Array.from({ length: 10_000 }, () => v) : v;
const num = (x) => typeof x === "number" ? x : x[0];
p.add(step({ name: "s0", outputs: ["v0"] }, () => val(0, 0)));
for (let i = 1; i < N; i++) {
  p.add(step({ name: "s" + i, inputs: ["v" + (i - 1)], outputs: ["v" + i] }, async (x) => {
    await new Promise((r) => setTimeout(r, 2));
    return val(i, num(x["v" + (i - 1)]) + i);
  }));
}
const r = await p.run(resume ? { resumeRunId: resume, forceResume: true } : {});
console.log(JSON.stringify({ runId: r.runId, status: r.status, last: num(r.outputs["v" + (N - 1)]) }));
await stack.close();
`;

Deno.test("group commit: kill -9 mid-run leaves a consistent database; resume completes the run", async () => {
  const t = await tempDir();
  try {
    await Deno.writeTextFile(`${t.path}/chain.ts`, CHAIN);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--config", CONFIG, `${t.path}/chain.ts`, t.path],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const completed = () => {
      try {
        const db = new DatabaseSync(`${t.path}/m.db`, { readOnly: true });
        try {
          const q = "SELECT COUNT(*) n FROM step_runs WHERE status = 'completed'";
          return Number((db.prepare(q).get() as { n: number }).n);
        } finally {
          db.close();
        }
      } catch {
        return 0; // not created yet
      }
    };
    let exited = false;
    child.status.then(() => (exited = true));
    const t0 = Date.now();
    while (!exited && completed() < 80 && Date.now() - t0 < 60_000) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.ok(!exited, "the run process ended before it was killed");
    child.kill("SIGKILL");
    const st = await child.output();
    assert.equal(st.signal, "SIGKILL", new TextDecoder().decode(st.stderr));
    const stack = new Stack("k", {
      orchestrator: new LocalOrchestrator(),
      executor: new LocalExecutor(),
      artifactStore: new LocalArtifactStore({ path: `${t.path}/a` }),
      metadataStore: new SQLiteMetadataStore({ path: `${t.path}/m.db` }),
    });
    const meta = stack.metadataStore;
    const [run] = await meta.listRuns({ pipeline: "killed" });
    const steps = await meta.listStepRuns(run.runId);
    const done = steps.filter((s) => s.status === "completed");
    assert.ok(done.length >= 80 && done.length < 300, `${done.length} steps committed`);
    // Completed steps form a prefix of the chain (commits are in order) and their outputs verify.
    const names = new Set(done.map((s) => s.step));
    for (let i = 0; i < done.length; i++) assert.ok(names.has(`s${i}`), `s${i} committed`);
    const blobs = { blobs: meta };
    for (const s of done) {
      for (const ref of Object.values(s.outputs!)) {
        assert.equal((await checkObject(stack.artifactStore, ref, blobs)).status, "ok", s.step);
      }
    }
    // No cache entry and no lineage edge points at an artifact that is not there.
    const db = new DatabaseSync(`${t.path}/m.db`, { readOnly: true });
    const entries = db.prepare("SELECT outputs FROM cache_entries").all() as { outputs: string }[];
    db.close();
    assert.equal(entries.length, done.length);
    for (const e of entries) {
      for (const ref of Object.values(JSON.parse(e.outputs))) {
        const r = ref as Parameters<typeof checkObject>[1];
        assert.equal((await checkObject(stack.artifactStore, r, blobs)).status, "ok");
      }
    }
    for (const e of await meta.getLineage({ runId: run.runId })) {
      const inline = e.uri.includes("#blobs/");
      const ref = { hash: e.hash, path: inline ? `blobs/${e.hash}` : objectPath(e.hash), inline };
      assert.equal((await checkObject(stack.artifactStore, ref, blobs)).status, "ok", e.uri);
    }
    assert.equal((await verifyArtifacts(stack)).filter((o) => o.check.status !== "ok").length, 0);
    await stack.close();
    // Resume: the committed steps are reused, the rest run, and the result is right.
    const res = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--config", CONFIG, `${t.path}/chain.ts`, t.path, run.runId],
    }).output();
    const out = new TextDecoder().decode(res.stdout);
    assert.equal(res.code, 0, out + new TextDecoder().decode(res.stderr));
    const summary = JSON.parse(out.trim().split("\n").at(-1)!);
    assert.equal(summary.status, "completed");
    assert.equal(summary.last, (299 * 300) / 2);
  } finally {
    await t.cleanup();
  }
});
