/**
 * kernel/hash.ts hashes small inputs in pure JS and large ones with
 * node:crypto: both paths must give node:crypto's digest, bit for bit.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { hashValue, NATIVE_MIN_BYTES, sha256Hex, sha256Stream } from "../../kernel/hash.ts";

const reference = (data: Uint8Array | string) => createHash("sha256").update(data).digest("hex");

/** `n` pseudo-random bytes (crypto.getRandomValues fills at most 64 KiB per call). */
function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, i + 65536));
  return out;
}

const T = NATIVE_MIN_BYTES;
const SIZES = [
  0,
  1,
  55,
  56,
  63,
  64,
  65,
  119,
  120,
  127,
  128,
  1000,
  T - 1,
  T,
  T + 1,
  1 << 20,
  ...Array.from({ length: 12 }, () => Math.floor(Math.random() * 3 * T)),
];

/** Digests computed in a fresh copy of kernel/hash.ts (a worker) that never loads node:crypto. */
async function jsOnlyDigests(inputs: (Uint8Array | string)[], chunk: number): Promise<string[][]> {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/worker.js`;
  await Deno.writeTextFile(
    file,
    `import { sha256Hex, sha256Stream } from "${new URL("../../kernel/hash.ts", import.meta.url)}";
self.onmessage = ({ data }) => {
  const out = data.map((x) => {
    const bytes = typeof x === "string" ? new TextEncoder().encode(x) : x;
    const h = sha256Stream();
    for (let i = 0; i < bytes.length; i += ${chunk}) h.update(bytes.slice(i, i + ${chunk}));
    return [sha256Hex(x), h.digest("hex")];
  });
  self.postMessage(out);
};`,
  );
  const w = new Worker(new URL(`file://${file}`), { type: "module" });
  try {
    const done = new Promise<string[][]>((resolve, reject) => {
      w.onmessage = (e) => resolve(e.data);
      w.onerror = (e) => {
        e.preventDefault();
        reject(e.error ?? new Error(e.message));
      };
    });
    w.postMessage(inputs);
    return await done;
  } finally {
    w.terminate();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("sha256Hex, sha256Stream: the pure-JS path (inputs under the threshold) equals node:crypto", async () => {
  const inputs: (Uint8Array | string)[] = [
    ...SIZES.filter((n) => n < T).map(randomBytes),
    "",
    "abc",
    "naïve ☃ 𝄞",
    "ü".repeat(T / 4),
  ];
  for (const chunk of [13, 64, 4096]) {
    const got = await jsOnlyDigests(inputs, chunk);
    inputs.forEach((x, i) => {
      assert.equal(got[i][0], reference(x), `sha256Hex of input ${i}`);
      assert.equal(got[i][1], reference(x), `sha256Stream of input ${i} in chunks of ${chunk}`);
    });
  }
});

Deno.test("sha256Hex: JS (small) and native (large) paths equal node:crypto on every size", () => {
  assert.equal(
    sha256Hex("abc"),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  for (const n of SIZES) {
    const bytes = randomBytes(n);
    assert.equal(sha256Hex(bytes), reference(bytes), `${n} bytes`);
    // A view into a larger buffer hashes only its own bytes.
    const view = new Uint8Array(bytes.buffer, Math.min(3, n), Math.max(0, n - 3));
    assert.equal(sha256Hex(view), reference(view), `view of ${n} bytes`);
  }
});

Deno.test("sha256Hex: strings hash as UTF-8 on both paths", () => {
  for (const s of ["", "é", "naïve ☃ 𝄞", "x".repeat(T - 1), "ü".repeat(T), "𝄞".repeat(T)]) {
    assert.equal(sha256Hex(s), reference(s), `string of length ${s.length}`);
  }
});

Deno.test("sha256Stream: any split into chunks, across the native threshold, gives the same digest", () => {
  for (const n of [0, 64, 1000, T - 1, T, T + 1, 3 * T + 17, 1 << 20]) {
    const bytes = randomBytes(n);
    const want = reference(bytes);
    for (const split of [1 << 30, 64, 4096, 7919, T - 1, T + 5]) {
      const h = sha256Stream();
      for (let i = 0; i < n; i += split) {
        const chunk = bytes.slice(i, i + split);
        h.update(chunk);
        chunk.fill(0); // the hasher copied what it kept
      }
      assert.equal(h.digest("hex"), want, `${n} bytes in chunks of ${split}`);
    }
  }
  assert.equal(sha256Stream().update("ab").update("c").digest("hex"), reference("abc"));
});

Deno.test("hashValue: stable across key order, distinct across values", () => {
  assert.equal(hashValue({ a: 1, b: [1, 2] }), hashValue({ b: [1, 2], a: 1 }));
  assert.notEqual(hashValue({ a: 1 }), hashValue({ a: 2 }));
  assert.equal(hashValue(undefined), reference("undefined"));
});
