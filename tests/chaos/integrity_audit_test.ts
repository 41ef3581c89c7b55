/**
 * A hostile audit of the storage paths of issue 16 (small artifacts inline in
 * the SQLite metadata store, `inline_small_outputs` on a real S3 server,
 * inline results of queue workers), against two rules:
 *
 * 1. every read is hash-verified: a stored value edited in any way (truncated,
 *    emptied, one bit flipped, swapped, rewritten as SQL TEXT or a number) is
 *    an error naming the artifact or a recompute, never a value;
 * 2. the cache is exact: equal bytes that read back as different values, a
 *    param JSON cannot tell apart (`Infinity`/`-Infinity`/`NaN`/`-0`) and a
 *    serializer's version are part of what a cached result depends on.
 *
 * The third rule (group commit, `kill -9`) is in crash_audit_test.ts. What
 * earlier tests already cover is not repeated here (a corrupted or deleted blob
 * via SQL, helper-module edits, zeros in an S3 object with inlining off).
 * @module
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { DatabaseSync } from "node:sqlite";
import { tempDir } from "../_helpers.ts";
import {
  ArtifactIntegrityError,
  blobPath,
  checkObject,
  loadValue,
} from "../../kernel/artifacts.ts";
import { sha256Hex } from "../../kernel/hash.ts";
import type { ArtifactRef } from "../../kernel/records.ts";
import { verifyArtifacts } from "../../kernel/verify.ts";
import { jobBlobs, stageOutputBlobs } from "../../plugins/queue/inline.ts";
import type { StepJobData } from "../../plugins/queue/config.ts";
import {
  FlowymlError,
  LocalArtifactStore,
  Pipeline,
  registerSerializer,
  SQLiteMetadataStore,
  step,
} from "../../mod.ts";
import { tempStack } from "../kernel/_stack.ts";

const utf8 = (s: string) => new TextEncoder().encode(s);
const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");

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
    const { stack, dir, cleanup } = await tempStack();
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
      await cleanup();
    }
  }
});

Deno.test("audit rule 1: a blob rewritten as SQL TEXT of the same bytes reads back exactly", async () => {
  const { stack, dir, cleanup } = await tempStack();
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
    await cleanup();
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
  const { stack, cleanup } = await tempStack();
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
    await cleanup();
  }
});

Deno.test("audit rule 2: params JSON cannot tell apart (Infinity, -Infinity, NaN, -0) are refused; null, 0 and 2 stay apart", async () => {
  const { stack, cleanup } = await tempStack();
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
    await cleanup();
  }
});

class Box {
  constructor(readonly n: number) {}
}

Deno.test("audit rule 2: bumping a serializer's version re-runs the steps, cached results stay exact", async () => {
  const { stack, cleanup } = await tempStack();
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
    await cleanup();
  }
});
