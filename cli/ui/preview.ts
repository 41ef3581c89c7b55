/**
 * Artifact previews for `flowyml ui`, made by the serializers that stored
 * them: a table for rows, stats and a histogram for typed arrays, pretty
 * JSON for other data, text for strings and the first bytes (hex) for
 * anything else. Every preview is plain data; the page renders it as text.
 * @module
 */
import type { ArtifactStore } from "../../kernel/contracts.ts";
import { type BlobStore, loadStream } from "../../kernel/artifacts.ts";
import type { ArtifactRecord } from "../../kernel/records.ts";
import { getSerializers } from "../../kernel/serializers.ts";
import { describeError } from "../../kernel/errors.ts";

/** Artifacts larger than this are previewed by their first bytes only. */
export const PREVIEW_MAX_BYTES = 16 * 1024 * 1024;
const TEXT_MAX = 64 * 1024;
const ROWS_MAX = 50;
const BINS = 20;

/** A preview, by kind. */
export type Preview =
  | { kind: "table"; title?: string; columns: string[]; rows: string[][]; totalRows: number }
  | { kind: "stats"; type: string; stats: Stats; histogram: Histogram }
  | { kind: "json"; text: string; truncated: boolean; tables: Preview[] }
  | { kind: "text"; text: string; truncated: boolean }
  | { kind: "bytes"; hex: string; ascii: string; size: number; note?: string };

/** Summary statistics of numbers. */
export interface Stats {
  count: number;
  min: number;
  max: number;
  mean: number;
  std: number;
  nan: number;
}

/** Equal-width histogram. */
export interface Histogram {
  min: number;
  max: number;
  counts: number[];
}

/** Preview of a stored artifact (reads it from `store`). */
export async function previewArtifact(
  store: ArtifactStore,
  a: ArtifactRecord,
  options: { blobs?: BlobStore } = {},
): Promise<Preview> {
  if (a.inline) {
    // A small artifact stored in the metadata store: read (and verified) from there.
    const stream = await loadStream(store, a, { blobs: options.blobs });
    const bytes = new Uint8Array(await new Response(stream).arrayBuffer());
    const ser = await getSerializers().loaded(a.serializer);
    return previewValue(ser.deserialize(bytes, a.meta), a.size);
  }
  if (a.size > PREVIEW_MAX_BYTES) {
    const head = await readHead(store, a.path, 256);
    return bytesPreview(head, a.size, "too large to decode for a preview");
  }
  const bytes = await store.readBytes(a.path);
  let value: unknown;
  try {
    value = (await getSerializers().loaded(a.serializer)).deserialize(bytes, a.meta);
  } catch (err) {
    return bytesPreview(bytes.subarray(0, 256), a.size, `not decoded: ${describeError(err)}`);
  }
  return previewValue(value, a.size);
}

async function readHead(store: ArtifactStore, path: string, n: number): Promise<Uint8Array> {
  const reader = (await store.readStream(path)).getReader();
  const chunks: Uint8Array[] = [];
  let got = 0;
  while (got < n) {
    const { value, done } = await reader.read();
    if (done) break;
    chunks.push(value);
    got += value.length;
  }
  await reader.cancel().catch(() => {});
  const out = new Uint8Array(Math.min(n, got));
  let off = 0;
  for (const c of chunks) {
    const take = c.subarray(0, out.length - off);
    out.set(take, off);
    off += take.length;
    if (off >= out.length) break;
  }
  return out;
}

/** Preview of a value. */
export function previewValue(value: unknown, size = 0): Preview {
  if (value instanceof Uint8Array) return bytesPreview(value.subarray(0, 256), value.length);
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    const arr = value as unknown as ArrayLike<number | bigint>;
    return typedArrayPreview(arr, value.constructor.name);
  }
  if (typeof value === "string") {
    return { kind: "text", text: value.slice(0, TEXT_MAX), truncated: value.length > TEXT_MAX };
  }
  if (Array.isArray(value) && value.length && value.every(isRow)) return tablePreview(value);
  const text = prettyJson(value);
  const tables: Preview[] = [];
  if (value && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value).slice(0, 20)) {
      if (Array.isArray(v) && v.length && v.every(isRow) && tables.length < 3) {
        tables.push({ ...tablePreview(v), title: k } as Preview);
      }
    }
  }
  void size;
  return { kind: "json", text: text.slice(0, TEXT_MAX), truncated: text.length > TEXT_MAX, tables };
}

function isRow(v: unknown): boolean {
  return Array.isArray(v) || (v !== null && typeof v === "object" && !ArrayBuffer.isView(v) &&
    !(v instanceof Map) && !(v instanceof Set));
}

function cell(v: unknown): string {
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toPrecision(6);
  if (typeof v === "string") return v.length > 200 ? v.slice(0, 200) + "…" : v;
  const s = prettyJson(v, 0);
  return s.length > 200 ? s.slice(0, 200) + "…" : s;
}

function tablePreview(rows: unknown[]): Preview {
  const arrays = rows.every(Array.isArray);
  const columns: string[] = [];
  if (arrays) {
    const width = Math.max(...rows.slice(0, ROWS_MAX).map((r) => (r as unknown[]).length));
    for (let i = 0; i < Math.min(width, 50); i++) columns.push(String(i));
  } else {
    const seen = new Set<string>();
    for (const r of rows.slice(0, ROWS_MAX)) {
      for (const k of Object.keys(r as object)) if (!seen.has(k)) seen.add(k), columns.push(k);
    }
  }
  const shown = rows.slice(0, ROWS_MAX).map((r) =>
    columns.map((c) => cell((r as Record<string, unknown>)[c]))
  );
  return { kind: "table", columns: columns.slice(0, 50), rows: shown, totalRows: rows.length };
}

function typedArrayPreview(arr: ArrayLike<number | bigint>, type: string): Preview {
  let min = Infinity, max = -Infinity, sum = 0, sq = 0, count = 0, nan = 0;
  for (let i = 0; i < arr.length; i++) {
    const v = Number(arr[i]);
    if (Number.isNaN(v)) {
      nan++;
      continue;
    }
    count++;
    sum += v;
    sq += v * v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const mean = count ? sum / count : 0;
  const std = count ? Math.sqrt(Math.max(0, sq / count - mean * mean)) : 0;
  const counts = new Array(BINS).fill(0);
  const span = max - min;
  for (let i = 0; i < arr.length && count; i++) {
    const v = Number(arr[i]);
    if (Number.isNaN(v)) continue;
    counts[span > 0 ? Math.min(BINS - 1, Math.floor(((v - min) / span) * BINS)) : 0]++;
  }
  return {
    kind: "stats",
    type,
    stats: { count, min: count ? min : 0, max: count ? max : 0, mean, std, nan },
    histogram: { min: count ? min : 0, max: count ? max : 0, counts },
  };
}

function bytesPreview(head: Uint8Array, size: number, note?: string): Preview {
  const hex = [...head].map((b) => b.toString(16).padStart(2, "0")).join(" ");
  const ascii = [...head].map((b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : ".")).join("");
  return { kind: "bytes", hex, ascii, size, ...(note ? { note } : {}) };
}

/** JSON text of any value: Maps, Sets, bigints, typed arrays and dates included. */
export function prettyJson(value: unknown, indent = 2): string {
  try {
    return JSON.stringify(value, (_k, v) => {
      if (typeof v === "bigint") return `${v}n`;
      if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), x]));
      if (v instanceof Set) return [...v];
      if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
        const a = Array.from(v as unknown as ArrayLike<number>).slice(0, 1000);
        return a.map((x) => typeof x === "bigint" ? `${x}n` : x);
      }
      if (typeof v === "number" && !Number.isFinite(v)) return String(v);
      return v;
    }, indent) ?? String(value);
  } catch (err) {
    return `(not shown as JSON: ${describeError(err)})`;
  }
}
