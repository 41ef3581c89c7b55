/**
 * Small WebAssembly binary helpers that run before a module is compiled:
 * list sections, imports and exports, read and append custom sections (the
 * plugin manifest lives in a `flowyml.manifest` custom section), and cap the
 * declared linear-memory maximum (Extism's `maxPages` does not cap it).
 * @module
 */
import { SandboxError } from "./errors.ts";

/** One top-level section of a module. */
export interface WasmSection {
  id: number;
  /** Offset of the section id byte. */
  start: number;
  /** Offset of the payload (after id and size). */
  payload: number;
  /** Offset just past the payload. */
  end: number;
  /** Custom sections only: their name. */
  name?: string;
}

/** An import, as declared in the binary. */
export interface WasmImport {
  /** Import module name, e.g. `extism:host/user`. */
  module: string;
  /** Name of the imported item within its module. */
  name: string;
  /** What is imported. */
  kind: "function" | "table" | "memory" | "global" | "tag";
}

const KINDS = ["function", "table", "memory", "global", "tag"] as const;
const dec = new TextDecoder("utf-8", { fatal: true });
const enc = new TextEncoder();

class Reader {
  constructor(readonly b: Uint8Array, public p = 0) {}
  byte(): number {
    if (this.p >= this.b.length) throw new SandboxError("module is truncated");
    return this.b[this.p++];
  }
  u32(): number {
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 5; i++) {
      const x = this.byte();
      result += (x & 0x7f) * 2 ** shift;
      if ((x & 0x80) === 0) return result;
      shift += 7;
    }
    throw new SandboxError("module has a malformed LEB128 number");
  }
  u64(): number {
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      const x = this.byte();
      result += (x & 0x7f) * 2 ** shift;
      if ((x & 0x80) === 0) return result;
      shift += 7;
    }
    throw new SandboxError("module has a malformed LEB128 number");
  }
  name(): string {
    const n = this.u32();
    if (this.p + n > this.b.length) throw new SandboxError("module is truncated (name)");
    const s = dec.decode(this.b.subarray(this.p, this.p + n));
    this.p += n;
    return s;
  }
}

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

/** Top-level sections of a module; throws on a malformed header or truncation. */
export function sections(bytes: Uint8Array): WasmSection[] {
  if (
    bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 ||
    bytes[3] !== 0x6d
  ) {
    throw new SandboxError("not a WebAssembly module (bad magic number)");
  }
  if (bytes[4] !== 1 || bytes[5] || bytes[6] || bytes[7]) {
    throw new SandboxError("unsupported WebAssembly version (only core modules, version 1)");
  }
  const r = new Reader(bytes, 8);
  const out: WasmSection[] = [];
  while (r.p < bytes.length) {
    const start = r.p;
    const id = r.byte();
    const size = r.u32();
    const payload = r.p;
    const end = payload + size;
    if (end > bytes.length) throw new SandboxError(`module is truncated (section ${id})`);
    const s: WasmSection = { id, start, payload, end };
    if (id === 0) s.name = new Reader(bytes, payload).name();
    out.push(s);
    r.p = end;
  }
  return out;
}

function skipLimits(r: Reader): void {
  const flags = r.byte();
  if (flags & 4) {
    r.u64();
    if (flags & 1) r.u64();
  } else {
    r.u32();
    if (flags & 1) r.u32();
  }
}

/** Imports declared by a module. */
export function listImports(bytes: Uint8Array): WasmImport[] {
  const sec = sections(bytes).find((s) => s.id === 2);
  if (!sec) return [];
  const r = new Reader(bytes, sec.payload);
  const n = r.u32();
  const out: WasmImport[] = [];
  for (let i = 0; i < n; i++) {
    const module = r.name();
    const name = r.name();
    const k = r.byte();
    const kind = KINDS[k];
    if (!kind) throw new SandboxError(`import ${module}.${name} has an unknown kind ${k}`);
    if (k === 0) r.u32();
    else if (k === 1) {
      r.byte();
      skipLimits(r);
    } else if (k === 2) skipLimits(r);
    else if (k === 3) {
      r.byte();
      r.byte();
    } else {
      r.byte();
      r.u32();
    }
    out.push({ module, name, kind });
  }
  return out;
}

/** Names of exported functions. */
export function listFunctionExports(bytes: Uint8Array): string[] {
  const sec = sections(bytes).find((s) => s.id === 7);
  if (!sec) return [];
  const r = new Reader(bytes, sec.payload);
  const n = r.u32();
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const name = r.name();
    const kind = r.byte();
    r.u32();
    if (kind === 0) out.push(name);
  }
  return out;
}

/** The payload of the first custom section named `name`, if any. */
export function readCustomSection(bytes: Uint8Array, name: string): Uint8Array | undefined {
  const s = sections(bytes).find((x) => x.id === 0 && x.name === name);
  if (!s) return undefined;
  const r = new Reader(bytes, s.payload);
  r.name();
  return bytes.subarray(r.p, s.end);
}

/** A copy of `bytes` with a custom section appended (any section of that name removed first). */
export function appendCustomSection(bytes: Uint8Array, name: string, data: Uint8Array): Uint8Array {
  const keep = sections(bytes).filter((s) => !(s.id === 0 && s.name === name));
  const parts: Uint8Array[] = [
    bytes.subarray(0, 8),
    ...keep.map((s) => bytes.subarray(s.start, s.end)),
  ];
  const nameBytes = enc.encode(name);
  const body = [...uleb(nameBytes.length), ...nameBytes];
  parts.push(new Uint8Array([0, ...uleb(body.length + data.length), ...body]), data);
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Rewrite the declared maximum of every memory the module defines to at most
 * `maxPages` (64 KiB pages). A memory whose minimum is already above the cap
 * is refused. Returns a new buffer.
 */
export function capMemory(bytes: Uint8Array, maxPages: number): Uint8Array {
  const sec = sections(bytes).find((s) => s.id === 5);
  if (!sec) return bytes;
  const r = new Reader(bytes, sec.payload);
  const n = r.u32();
  const body: number[] = [...uleb(n)];
  for (let i = 0; i < n; i++) {
    const flags = r.byte();
    if (flags & 4) throw new SandboxError("64-bit memories (memory64) are not supported");
    const min = r.u32();
    const max = flags & 1 ? r.u32() : Infinity;
    if (min > maxPages) {
      throw new SandboxError(
        `module declares an initial memory of ${min} pages (${min * 64} KiB), above its cap of ` +
          `${maxPages} pages`,
        { hint: "raise grants.memory for this plugin in flowyml.yaml" },
      );
    }
    const shared = flags & 2;
    body.push(1 | shared, ...uleb(min), ...uleb(Math.min(max, maxPages)));
  }
  const rest = bytes.subarray(r.p, sec.end);
  const payload = new Uint8Array([...body, ...rest]);
  const head = new Uint8Array([5, ...uleb(payload.length)]);
  const out = new Uint8Array(sec.start + head.length + payload.length + (bytes.length - sec.end));
  out.set(bytes.subarray(0, sec.start), 0);
  out.set(head, sec.start);
  out.set(payload, sec.start + head.length);
  out.set(bytes.subarray(sec.end), sec.start + head.length + payload.length);
  return out;
}
