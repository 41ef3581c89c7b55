/**
 * Hashing helpers. sha256 of small inputs (cache keys, param hashes, small
 * artifacts) in pure JS (`@noble/hashes`), so `import "flowyml"` does not load
 * `node:crypto` (≈ 14 ms of a cold start); inputs of {@linkcode NATIVE_MIN_BYTES}
 * or more go through `node:crypto`, native in Deno and about 5× faster on
 * large buffers (100 MiB in ~60 ms), loaded synchronously on first need
 * (`process.getBuiltinModule`) and then used for every input. Both give the
 * same digest.
 * @module
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";

/** Inputs at least this long (bytes, or UTF-16 units of a string) are hashed natively. */
export const NATIVE_MIN_BYTES = 64 * 1024;

/** An incremental sha256 hasher: `update` with each chunk, then `digest("hex")` once. */
export interface Sha256Hasher {
  /** Add bytes (or a string, as UTF-8); returns the hasher. */
  update(data: Uint8Array | string): Sha256Hasher;
  /** The digest of everything added, as lowercase hex. */
  digest(encoding: "hex"): string;
}

/** The part of `node:crypto`'s `Hash` used here. */
interface NativeHash {
  update(data: Uint8Array | string): NativeHash;
  digest(encoding: "hex"): string;
}

type CreateHash = (algorithm: "sha256") => NativeHash;
let createHash: CreateHash | undefined;
let nativeLoading: Promise<unknown> | undefined;

/**
 * `node:crypto`'s `createHash`, loaded on first call (synchronously where the
 * runtime has `process.getBuiltinModule`, as Deno 2 does); `undefined` while
 * an asynchronous load is still under way.
 */
function nativeCreateHash(): CreateHash | undefined {
  if (createHash) return createHash;
  const proc = (globalThis as {
    process?: { getBuiltinModule?: (id: string) => { createHash: CreateHash } | undefined };
  }).process;
  const mod = proc?.getBuiltinModule?.("node:crypto");
  if (mod) return createHash = mod.createHash;
  nativeLoading ??= import("node:crypto").then((m) => createHash = m.createHash as CreateHash);
  return undefined;
}

const encoder = new TextEncoder();

/** sha256 in pure JS, as hex. */
function jsSha256Hex(data: Uint8Array | string): string {
  return bytesToHex(sha256(typeof data === "string" ? encoder.encode(data) : data));
}

/** sha256 of bytes or a string (UTF-8), as lowercase hex. */
export function sha256Hex(data: Uint8Array | string): string {
  // Once node:crypto is loaded it is used for every size (≈ 1.2 µs vs 2.3 µs for 100 bytes).
  const native = createHash ?? (data.length >= NATIVE_MIN_BYTES ? nativeCreateHash() : undefined);
  return native ? native("sha256").update(data).digest("hex") : jsSha256Hex(data);
}

/**
 * An incremental sha256 hasher. Until `node:crypto` is loaded, the first
 * {@linkcode NATIVE_MIN_BYTES} are kept (copied); a stream that ends before
 * that is hashed in JS, a longer one natively from there on.
 */
export function sha256Stream(): Sha256Hasher {
  return new StreamHasher();
}

/** {@linkcode sha256Stream}'s hasher: buffers small input, hands large input to `node:crypto`. */
class StreamHasher implements Sha256Hasher {
  #pending: Uint8Array[] = [];
  #size = 0;
  #hash?: { update(data: Uint8Array): unknown };
  #native = false;

  update(data: Uint8Array | string): Sha256Hasher {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    if (this.#hash) {
      this.#hash.update(bytes);
      return this;
    }
    this.#size += bytes.byteLength;
    if (this.#size < NATIVE_MIN_BYTES && !createHash) {
      // A copy: the caller may reuse or transfer the chunk's buffer after update().
      this.#pending.push(bytes.slice());
      return this;
    }
    const create = nativeCreateHash();
    this.#native = !!create;
    // Without node:crypto yet (an asynchronous load under way), JS from here on.
    this.#hash = create ? create("sha256") : sha256.create();
    for (const p of this.#pending) this.#hash.update(p);
    this.#pending = [];
    this.#hash.update(bytes);
    return this;
  }

  digest(_encoding: "hex"): string {
    if (this.#native) return (this.#hash as NativeHash).digest("hex");
    const h = (this.#hash as ReturnType<typeof sha256.create> | undefined) ?? sha256.create();
    for (const p of this.#pending) h.update(p);
    this.#pending = [];
    return bytesToHex(h.digest());
  }
}

/**
 * Stable JSON: object keys sorted, so equal values hash equally.
 * Used for cache keys and param hashes.
 */
export function stableStringify(value: unknown): string {
  return JSON.stringify(value, (_k, v) => {
    if (v && typeof v === "object" && !Array.isArray(v) && !ArrayBuffer.isView(v)) {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) out[k] = (v as Record<string, unknown>)[k];
      return out;
    }
    if (typeof v === "bigint") return `${v}n`;
    if (ArrayBuffer.isView(v)) {
      const u = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      return `bytes:${sha256Hex(u)}`;
    }
    return v;
  });
}

/** Hash of any JSON-able value via {@linkcode stableStringify}. */
export function hashValue(value: unknown): string {
  return sha256Hex(stableStringify(value) ?? "undefined");
}
