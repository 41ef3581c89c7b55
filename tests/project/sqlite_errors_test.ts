/**
 * A metadata DB that is not flowyml's (random bytes, truncated, another program's, a newer
 * flowyml's) is refused through the CLI with an error naming the file and the fix, no stack
 * trace, and the file's bytes unchanged.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { tempDir } from "../_helpers.ts";
import { flowyml } from "../kernel/_cli.ts";
import { SQLiteMetadataStore } from "../../plugins/sqlite/metadata_store.ts";

const PIPELINE = `import { Pipeline, step } from "flowyml";
const hello = step({ name: "hello", outputs: ["msg"] }, () => "hi");
export default new Pipeline("p").add(hello);
`;

async function project(db: Uint8Array) {
  const dir = await tempDir("flowyml-db-");
  await Deno.writeTextFile(`${dir.path}/pipeline.ts`, PIPELINE);
  await Deno.writeTextFile(`${dir.path}/flowyml.yaml`, "");
  await Deno.mkdir(`${dir.path}/.flowyml`);
  await Deno.writeFile(`${dir.path}/.flowyml/metadata.db`, db);
  return dir;
}

/** Runs `runs list` and `run pipeline.ts`; both refused, no trace, file untouched. */
async function assertRefused(db: Uint8Array, expect: RegExp) {
  const dir = await project(db);
  try {
    for (const args of [["runs", "list"], ["run", "pipeline.ts"]]) {
      const r = await flowyml(dir.path, args);
      assert.notEqual(r.code, 0, r.stdout);
      assert.match(r.stderr, /\.flowyml\/metadata\.db/);
      assert.match(r.stderr, expect);
      assert.match(r.stderr, /fix: .*point the stack.s metadata_store\.path .* or move/);
      assert.doesNotMatch(r.stderr, /^\s+at /m, "no raw stack trace");
      assert.deepEqual(await Deno.readFile(`${dir.path}/.flowyml/metadata.db`), db);
    }
    const left = [...Deno.readDirSync(`${dir.path}/.flowyml`)].map((e) => e.name);
    assert.ok(!left.some((n) => n.endsWith("-wal")), `no WAL file was created: ${left}`);
  } finally {
    await dir.cleanup();
  }
}

/** A real SQLite file made by `fill`, read back as bytes. */
async function sqliteBytes(fill: (db: DatabaseSync) => void): Promise<Uint8Array> {
  const dir = await tempDir();
  try {
    const db = new DatabaseSync(`${dir.path}/x.db`);
    fill(db);
    db.close();
    return await Deno.readFile(`${dir.path}/x.db`);
  } finally {
    await dir.cleanup();
  }
}

Deno.test("a file of random bytes is refused as not a flowyml database", async () => {
  const bytes = crypto.getRandomValues(new Uint8Array(4096));
  await assertRefused(bytes, /is not a flowyml metadata database, or it is damaged/);
});

Deno.test("a truncated SQLite file is refused as damaged", async () => {
  const full = await sqliteBytes((db) => {
    db.exec("CREATE TABLE t (x TEXT)");
    const ins = db.prepare("INSERT INTO t VALUES (?)");
    for (let i = 0; i < 2000; i++) ins.run("y".repeat(200));
  });
  assert.ok(full.length > 200_000);
  await assertRefused(full.slice(0, 100_000), /damaged \(truncated: 100000 bytes/);
});

Deno.test("a DB with another program's runs table (FlowyML Python) is refused unchanged", async () => {
  const foreign = await sqliteBytes((db) => {
    db.exec(`CREATE TABLE runs (run_id TEXT PRIMARY KEY, pipeline_name TEXT, status TEXT,
      start_time TEXT, metadata TEXT)`);
    db.exec(`CREATE TABLE artifacts (artifact_id TEXT PRIMARY KEY, name TEXT, run_id TEXT)`);
    db.exec(`INSERT INTO runs VALUES ('r1', 'training', 'completed', '2024-01-01', '{}')`);
  });
  await assertRefused(
    foreign,
    /was written by another program, not flowyml \(tables: artifacts, runs\)/,
  );
});

Deno.test("a DB written by a newer flowyml schema is refused unchanged", async () => {
  const dir = await tempDir();
  let bytes: Uint8Array;
  try {
    const store = new SQLiteMetadataStore({ path: `${dir.path}/m.db` });
    const version = store.schemaVersion();
    store.db.exec(`INSERT INTO schema_migrations VALUES (${version + 5}, 0)`);
    store.db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    store.db.close();
    bytes = await Deno.readFile(`${dir.path}/m.db`);
  } finally {
    await dir.cleanup();
  }
  await assertRefused(bytes, /has schema version \d+, written by a newer flowyml/);
});

Deno.test("an empty file and a healthy flowyml DB still open", async () => {
  const dir = await project(new Uint8Array());
  try {
    const first = await flowyml(dir.path, ["run", "pipeline.ts"]);
    assert.equal(first.code, 0, first.stderr);
    const again = await flowyml(dir.path, ["runs", "list"]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /completed/);
  } finally {
    await dir.cleanup();
  }
});
