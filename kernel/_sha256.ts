/**
 * sha256 in plain JS (FIPS 180-4), for kernel/hash.ts's small inputs. About
 * 60 lines that evaluate in well under a millisecond: `@noble/hashes`' sha2
 * module (every SHA-2 variant, 64-bit helpers) cost ≈ 5 ms of
 * `import "flowyml"`. Checked bit for bit against `node:crypto` by
 * tests/kernel/hash_test.ts.
 * @module
 */

const K = new Uint32Array([
  0x428a2f98,
  0x71374491,
  0xb5c0fbcf,
  0xe9b5dba5,
  0x3956c25b,
  0x59f111f1,
  0x923f82a4,
  0xab1c5ed5,
  0xd807aa98,
  0x12835b01,
  0x243185be,
  0x550c7dc3,
  0x72be5d74,
  0x80deb1fe,
  0x9bdc06a7,
  0xc19bf174,
  0xe49b69c1,
  0xefbe4786,
  0x0fc19dc6,
  0x240ca1cc,
  0x2de92c6f,
  0x4a7484aa,
  0x5cb0a9dc,
  0x76f988da,
  0x983e5152,
  0xa831c66d,
  0xb00327c8,
  0xbf597fc7,
  0xc6e00bf3,
  0xd5a79147,
  0x06ca6351,
  0x14292967,
  0x27b70a85,
  0x2e1b2138,
  0x4d2c6dfc,
  0x53380d13,
  0x650a7354,
  0x766a0abb,
  0x81c2c92e,
  0x92722c85,
  0xa2bfe8a1,
  0xa81a664b,
  0xc24b8b70,
  0xc76c51a3,
  0xd192e819,
  0xd6990624,
  0xf40e3585,
  0x106aa070,
  0x19a4c116,
  0x1e376c08,
  0x2748774c,
  0x34b0bcb5,
  0x391c0cb3,
  0x4ed8aa4a,
  0x5b9cca4f,
  0x682e6ff3,
  0x748f82ee,
  0x78a5636f,
  0x84c87814,
  0x8cc70208,
  0x90befffa,
  0xa4506ceb,
  0xbef9a3f7,
  0xc67178f2,
]);
const INIT = [
  0x6a09e667,
  0xbb67ae85,
  0x3c6ef372,
  0xa54ff53a,
  0x510e527f,
  0x9b05688c,
  0x1f83d9ab,
  0x5be0cd19,
];
const W = new Uint32Array(64);

/** Rotate right. */
function rotr(x: number, n: number): number {
  return (x >>> n) | (x << (32 - n));
}

/** Mix the 64-byte block of `view` at `off` into `h`. */
function compress(h: Uint32Array, view: DataView, off: number): void {
  for (let i = 0; i < 16; i++) W[i] = view.getUint32(off + i * 4);
  for (let i = 16; i < 64; i++) {
    const a = W[i - 15], b = W[i - 2];
    const s0 = rotr(a, 7) ^ rotr(a, 18) ^ (a >>> 3);
    const s1 = rotr(b, 17) ^ rotr(b, 19) ^ (b >>> 10);
    W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
  }
  let a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
  for (let i = 0; i < 64; i++) {
    const t1 = (k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + W[i]) |
      0;
    const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    k = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
  h[4] += e;
  h[5] += f;
  h[6] += g;
  h[7] += k;
}

/** An incremental sha256: `update` any number of times, then `digest` once. */
export class Sha256 {
  #h = new Uint32Array(INIT);
  #block = new Uint8Array(64);
  #view = new DataView(this.#block.buffer);
  #used = 0;
  #length = 0;

  /** Add bytes. */
  update(data: Uint8Array): this {
    this.#length += data.byteLength;
    let i = 0;
    if (this.#used === 0 && data.byteLength >= 64) {
      const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
      for (; i + 64 <= data.byteLength; i += 64) compress(this.#h, view, i);
    }
    while (i < data.byteLength) {
      const n = Math.min(64 - this.#used, data.byteLength - i);
      this.#block.set(data.subarray(i, i + n), this.#used);
      this.#used += n;
      i += n;
      if (this.#used === 64) {
        compress(this.#h, this.#view, 0);
        this.#used = 0;
      }
    }
    return this;
  }

  /** The 32-byte digest of everything added. */
  digest(): Uint8Array {
    const bits = this.#length * 8;
    const pad = new Uint8Array(((this.#used + 8) >> 6 << 6) + 64 - this.#used);
    pad[0] = 0x80;
    const tail = new DataView(pad.buffer);
    tail.setUint32(pad.length - 8, Math.floor(bits / 0x100000000));
    tail.setUint32(pad.length - 4, bits >>> 0);
    this.update(pad);
    const out = new Uint8Array(32);
    const view = new DataView(out.buffer);
    for (let i = 0; i < 8; i++) view.setUint32(i * 4, this.#h[i]);
    return out;
  }
}

/** Lowercase hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += (b < 16 ? "0" : "") + b.toString(16);
  return s;
}
