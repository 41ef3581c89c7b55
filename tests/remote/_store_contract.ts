/**
 * The behaviour every remote artifact store must have, run against a real
 * server by s3_test.ts and gcs_test.ts.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { ArtifactStore } from "../../kernel/artifact_store.ts";
import { loadValue, objectPath, putStream, putValue } from "../../kernel/artifacts.ts";

/** Deterministic pseudo-random bytes (fast, incompressible enough). */
export function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  const v = new DataView(out.buffer);
  let x = seed >>> 0 || 1;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    v.setUint32(i, x >>> 0);
  }
  for (; i < n; i++) out[i] = i & 0xff;
  return out;
}

/** A stream of `data` in chunks of `chunk` bytes. */
export function streamOf(data: Uint8Array, chunk = 64 * 1024): ReadableStream<Uint8Array> {
  let off = 0;
  return new ReadableStream({
    pull(c) {
      if (off >= data.length) return c.close();
      c.enqueue(data.slice(off, off + chunk));
      off += chunk;
    },
  });
}

async function sha(stream: ReadableStream<Uint8Array>): Promise<{ hex: string; n: number }> {
  const h = createHash("sha256");
  let n = 0;
  for await (const c of stream) {
    h.update(c);
    n += c.byteLength;
  }
  return { hex: h.digest("hex"), n };
}

/** Run the store contract; `big` is a size that forces multipart/resumable uploads. */
export async function storeContract(
  t: Deno.TestContext,
  store: ArtifactStore,
  big: number,
): Promise<void> {
  await t.step("bytes round-trip, exists, list, delete", async () => {
    const data = new TextEncoder().encode("hello flowyml");
    await store.writeBytes("c/one.txt", data);
    assert.deepEqual(await store.readBytes("c/one.txt"), data);
    assert.equal(await store.exists("c/one.txt"), true);
    assert.equal(await store.exists("c/none.txt"), false);
    await store.writeBytes("c/two.bin", new Uint8Array(0));
    assert.deepEqual(await store.readBytes("c/two.bin"), new Uint8Array(0));
    assert.deepEqual(await store.list("c/"), [{ path: "c/one.txt", size: data.length }, {
      path: "c/two.bin",
      size: 0,
    }]);
    await store.delete("c/one.txt");
    await store.delete("c/one.txt"); // deleting a missing object is fine
    assert.equal(await store.exists("c/one.txt"), false);
    await assert.rejects(() => store.readBytes("c/one.txt"), /artifact not found: \w+:\/\//);
  });

  await t.step(
    `stream ${(big / 2 ** 20).toFixed(0)} MiB up (multipart/resumable) and down`,
    async () => {
      const data = bytes(big, 7);
      const n = await store.writeStream("c/big.bin", streamOf(data, 1 << 20));
      assert.equal(n, big);
      const want = createHash("sha256").update(data).digest("hex");
      const got = await sha(await store.readStream("c/big.bin"));
      assert.equal(got.n, big);
      assert.equal(got.hex, want);
      const whole = await store.readBytes("c/big.bin");
      assert.equal(createHash("sha256").update(whole).digest("hex"), want);
      await store.writeBytes("c/big2.bin", data);
      assert.equal((await store.list("c/big2")).at(0)?.size, big);
    },
  );

  await t.step("content addressing: same layout as the local store", async () => {
    const ref = await putValue(store, { model: "softmax", weights: [0.5, 1.5] });
    assert.equal(ref.path, objectPath(ref.hash));
    assert.match(ref.path, /^objects\/[a-f0-9]{2}\/[a-f0-9]{64}$/);
    assert.equal(ref.uri, store.uriFor(ref.path));
    assert.deepEqual(await loadValue(store, ref), { model: "softmax", weights: [0.5, 1.5] });
    const data = bytes(3 << 20, 9);
    const sref = await putStream(store, streamOf(data));
    assert.equal(sref.hash, createHash("sha256").update(data).digest("hex"));
    assert.equal(await store.exists(sref.path), true);
    assert.deepEqual(await store.list("tmp/"), [], "the temporary upload was moved away");
  });
}
