import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { SQLiteMetadataStore } from "../../mod.ts";
import { MIGRATIONS } from "../../plugins/sqlite/migrations.ts";
import { checkHeader } from "../../plugins/sqlite/db_check.ts";
import { tempDir } from "../_helpers.ts";

Deno.test("sqlite: WAL mode, busy timeout and versioned migrations applied once", async () => {
  const t = await tempDir();
  try {
    const path = `${t.path}/m.db`;
    const a = new SQLiteMetadataStore({ path });
    assert.equal(a.schemaVersion(), MIGRATIONS.length);
    const mode = a.db.prepare("PRAGMA journal_mode").get() as { journal_mode: string };
    assert.equal(mode.journal_mode, "wal");
    a.close();
    const b = new SQLiteMetadataStore({ path });
    assert.equal(b.schemaVersion(), MIGRATIONS.length);
    const n = b.db.prepare("SELECT COUNT(*) c FROM schema_migrations").get() as { c: number };
    assert.equal(Number(n.c), MIGRATIONS.length);
    b.close();
  } finally {
    await t.cleanup();
  }
});

Deno.test("sqlite: migrating an older database applies only the missing versions", async () => {
  const t = await tempDir();
  try {
    const path = `${t.path}/old.db`;
    const raw = new DatabaseSync(path);
    raw.exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER)");
    raw.exec(MIGRATIONS[0]);
    raw.prepare("INSERT INTO schema_migrations VALUES (1, 0)").run();
    raw.prepare(
      "INSERT INTO runs (run_id, pipeline, status, stack, started_at) VALUES ('r0','p','completed','local',1)",
    )
      .run();
    raw.close();
    const s = new SQLiteMetadataStore({ path });
    assert.equal(s.schemaVersion(), MIGRATIONS.length);
    assert.equal((await s.getRun("r0"))?.status, "completed", "existing data kept");
    await s.recordAudit([{
      runId: "r0",
      actor: "p",
      op: "artifacts.get",
      resource: "x",
      allowed: false,
      at: 1,
    }]);
    assert.equal((await s.listAudit("r0")).length, 1);
    s.close();
  } finally {
    await t.cleanup();
  }
});

Deno.test("sqlite: runs, step runs, artifacts, lineage and cache queries", async () => {
  const s = new SQLiteMetadataStore({ path: ":memory:" });
  await s.createRun({
    runId: "r1",
    pipeline: "p",
    status: "running",
    stack: "local",
    params: { a: 1 },
    startedAt: 1,
  });
  await s.updateRun("r1", { status: "completed", endedAt: 5 });
  assert.deepEqual((await s.getRun("r1"))?.endedAt, 5);
  const ref = {
    hash: "h1",
    path: "objects/h1/h1",
    uri: "file:///h1",
    size: 3,
    serializer: "json",
    serializerVersion: 1,
  };
  await s.upsertStepRun({ runId: "r1", step: "a", status: "running", cached: false, attempts: 1 });
  await s.upsertStepRun({
    runId: "r1",
    step: "a",
    status: "completed",
    cached: false,
    attempts: 1,
    outputs: { x: ref },
  });
  const steps = await s.listStepRuns("r1");
  assert.equal(steps.length, 1);
  assert.deepEqual(steps[0].outputs?.x, ref);
  await s.recordArtifact({ ...ref, runId: "r1", step: "a", name: "x", createdAt: 2 });
  await s.recordLineage([
    { runId: "r1", step: "a", direction: "output", name: "x", hash: "h1", uri: ref.uri },
    { runId: "r1", step: "b", direction: "input", name: "x", hash: "h1", uri: ref.uri },
  ]);
  const byHash = await s.getLineage({ hash: "h1" });
  assert.deepEqual(byHash.map((e) => `${e.step}:${e.direction}`), ["a:output", "b:input"]);
  await s.putCacheEntry({
    key: "k",
    paramHashes: {},
    readAllParams: false,
    outputs: { x: ref },
    runId: "r1",
    step: "a",
    createdAt: 1,
  });
  assert.equal((await s.findCacheEntries("k"))[0].outputs.x.hash, "h1");
  assert.equal((await s.listRuns({ status: "completed" })).length, 1);
  assert.equal((await s.listRuns({ pipeline: "nope" })).length, 0);
  s.close();
});

Deno.test("sqlite: two processes writing the same file concurrently lose nothing", async () => {
  const t = await tempDir();
  try {
    const path = `${t.path}/shared.db`;
    const script = `
      import { SQLiteMetadataStore } from "${new URL("../../mod.ts", import.meta.url).href}";
      const s = new SQLiteMetadataStore({ path: ${JSON.stringify(path)} });
      const id = Deno.args[0];
      for (let i = 0; i < 200; i++) {
        await s.createRun({ runId: id + "-" + i, pipeline: "p", status: "running", stack: "l", params: {}, startedAt: i });
        await s.upsertStepRun({ runId: id + "-" + i, step: "s", status: "completed", cached: false, attempts: 1 });
      }
      s.close();`;
    const file = `${t.path}/writer.ts`;
    await Deno.writeTextFile(file, script);
    const procs = ["A", "B"].map((id) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--config",
          new URL("../../deno.json", import.meta.url).pathname,
          file,
          id,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output()
    );
    const outs = await Promise.all(procs);
    for (const o of outs) assert.equal(o.code, 0, new TextDecoder().decode(o.stderr));
    const s = new SQLiteMetadataStore({ path });
    assert.equal((await s.listRuns({ limit: 1000 })).length, 400);
    s.close();
  } finally {
    await t.cleanup();
  }
});

Deno.test("sqlite: passes the metadata store contract shared with PostgreSQL", async () => {
  const { checkMetadataContract } = await import("../queue/_metadata_contract.ts");
  const s = new SQLiteMetadataStore({ path: ":memory:" });
  try {
    await checkMetadataContract(s);
  } finally {
    s.close();
  }
});

Deno.test("sqlite: a file shorter than its header is damage only when no WAL shows a live writer", async () => {
  const t = await tempDir();
  try {
    const path = `${t.path}/grow.db`;
    const db = new DatabaseSync(path);
    db.exec("CREATE TABLE t (x TEXT)");
    const ins = db.prepare("INSERT INTO t VALUES (?)");
    for (let i = 0; i < 500; i++) ins.run("y".repeat(200));
    db.close();
    // What a reader sees while a checkpoint is writing: page 1 (the new page count) is written
    // before the pages that grow the file.
    const bytes = await Deno.readFile(path);
    await Deno.writeFile(path, bytes.slice(0, bytes.length - 4096));
    assert.throws(() => checkHeader(path), /damaged \(truncated: /);
    await Deno.writeFile(`${path}-wal`, new Uint8Array());
    checkHeader(path); // a writer's WAL beside it: not refused
  } finally {
    await t.cleanup();
  }
});
