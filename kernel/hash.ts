/**
 * Hashing helpers. sha256 through `node:crypto`, which is native in Deno and
 * about 5× faster than WebCrypto on large buffers (measured: 100 MiB in ~60 ms).
 * @module
 */
import { createHash, type Hash } from "node:crypto";

/** sha256 of bytes or a string, as lowercase hex. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** An incremental sha256 hasher. */
export function sha256Stream(): Hash {
  return createHash("sha256");
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
