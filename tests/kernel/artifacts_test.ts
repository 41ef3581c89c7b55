import assert from "node:assert/strict";
import {
  getSerializers,
  loadValue,
  LocalArtifactStore,
  objectPath,
  Pipeline,
  putStream,
  putValue,
  registerSerializer,
  step,
} from "../../mod.ts";
import { tempDir } from "../_helpers.ts";
import { tempStack } from "./_stack.ts";

Deno.test("serializers: JSON, string, bytes and typed arrays (raw) round-trip", async () => {
  const t = await tempDir();
  try {
    const store = new LocalArtifactStore({ path: t.path });
    const f = Float64Array.from({ length: 1000 }, (_, i) => i / 3);
    const values: [unknown, string][] = [
      [{ a: [1, 2, { b: null }] }, "json"],
      ["héllo", "string"],
      [new Uint8Array([1, 2, 3]), "bytes"],
      [f, "typed_array"],
      [new Int32Array([-1, 7]), "typed_array"],
      [42, "json"],
    ];
    for (const [v, ser] of values) {
      const ref = await putValue(store, v);
      assert.equal(ref.serializer, ser);
      assert.deepEqual(await loadValue(store, ref), v);
    }
    const ref = await putValue(store, f);
    assert.equal(ref.size, f.byteLength, "typed arrays are stored raw: no JSON, no base64");
    assert.equal((await Deno.stat(`${t.path}/${ref.path}`)).size, 8000);
  } finally {
    await t.cleanup();
  }
});

Deno.test("content addressing: identical bytes are stored once", async () => {
  const t = await tempDir();
  try {
    const store = new LocalArtifactStore({ path: t.path });
    const a = await putValue(store, { same: true });
    const b = await putValue(store, { same: true });
    assert.equal(a.path, b.path);
    assert.equal(a.path, objectPath(a.hash));
    assert.equal((await store.list("objects/")).length, 1);
  } finally {
    await t.cleanup();
  }
});

Deno.test("atomic writes: a failed stream leaves no object and no temp file", async () => {
  const t = await tempDir();
  try {
    const store = new LocalArtifactStore({ path: t.path });
    const failing = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new Uint8Array(1024));
      },
      pull(c) {
        c.error(new Error("disk on fire"));
      },
    });
    await assert.rejects(store.writeStream("objects/aa/x", failing), /disk on fire/);
    assert.equal(await store.exists("objects/aa/x"), false);
    const leftovers = await Array.fromAsync(Deno.readDir(`${t.path}/objects/aa`));
    assert.deepEqual(leftovers, [], "temp file removed");
  } finally {
    await t.cleanup();
  }
});

Deno.test("streams: putStream hashes while writing and loads back identically", async () => {
  const t = await tempDir();
  try {
    const store = new LocalArtifactStore({ path: t.path });
    const chunks = Array.from({ length: 16 }, (_, i) => new Uint8Array(64 * 1024).fill(i));
    const ref = await putStream(store, ReadableStream.from(chunks));
    assert.equal(ref.size, 16 * 64 * 1024);
    const back = await loadValue(store, ref) as Uint8Array;
    assert.equal(back[64 * 1024 * 5], 5);
    assert.equal((await store.list("tmp/")).length, 0, "temp object moved to its content path");
    const rs = await store.readStream(ref.path);
    let n = 0;
    for await (const c of rs) n += c.byteLength;
    assert.equal(n, ref.size);
  } finally {
    await t.cleanup();
  }
});

Deno.test("save/load keep the serializer beside the object; paths cannot escape the store", async () => {
  const t = await tempDir();
  try {
    const store = new LocalArtifactStore({ path: t.path });
    const uri = await store.save(new Float32Array([1.5, 2.5]), "models/w.bin");
    assert.match(uri, /^file:\/\/.*models\/w\.bin$/);
    assert.deepEqual(await store.load("models/w.bin"), new Float32Array([1.5, 2.5]));
    await assert.rejects(
      store.writeBytes("../escape", new Uint8Array(1)),
      /escapes the store folder/,
    );
    await store.delete("models/missing"); // deleting a missing object is fine
  } finally {
    await t.cleanup();
  }
});

Deno.test("custom serializer registered by type takes priority", async () => {
  class Point {
    constructor(readonly x: number, readonly y: number) {}
  }
  registerSerializer({
    name: "point",
    version: 1,
    canHandle: (v) => v instanceof Point,
    serialize: (v) => ({ bytes: new TextEncoder().encode(`${(v as Point).x},${(v as Point).y}`) }),
    deserialize: (b) => {
      const [x, y] = new TextDecoder().decode(b).split(",").map(Number);
      return new Point(x, y);
    },
  });
  assert.equal(getSerializers().names()[0], "point");
  const { stack, cleanup } = await tempStack();
  try {
    const p = new Pipeline("pts", { stack })
      .add(step({ name: "mk", outputs: ["p"] }, () => new Point(1, 2)))
      .add(step({ name: "use", inputs: ["p"], outputs: ["s"] }, ({ p }) => p.x + p.y));
    const r = await p.run();
    assert.equal(r.steps.mk.outputs.p.serializer, "point");
    assert.equal(r.outputs.s, 3);
    assert.ok(await loadValue(stack.artifactStore, r.steps.mk.outputs.p) instanceof Point);
  } finally {
    await cleanup();
  }
});

Deno.test("large typed array flows between steps without reload and is stored once", async () => {
  const { stack, cleanup } = await tempStack();
  try {
    const n = (8 << 20) / 8;
    const p = new Pipeline("big", { stack, cache: false })
      .add(
        step(
          { name: "make", outputs: ["arr"] },
          () => Float64Array.from({ length: n }, (_, i) => i),
        ),
      )
      .add(
        step({ name: "sum", inputs: ["arr"], outputs: ["s"] }, ({ arr }) => arr[n - 1] + arr[1]),
      );
    const r = await p.run();
    assert.equal(r.outputs.s, n);
    const ref = r.steps.make.outputs.arr;
    assert.equal(ref.size, n * 8);
    assert.deepEqual(
      (await loadValue(stack.artifactStore, ref) as Float64Array).subarray(0, 3),
      new Float64Array([0, 1, 2]),
    );
  } finally {
    await cleanup();
  }
});
