// Checksum store: a WASM artifact store format. `write` frames the bytes
// with a magic, the length and a CRC-32 and stores them in the inner store
// through the broker; `read` fetches, verifies and returns the payload, so
// corrupted objects are detected instead of loaded.
import { artifacts, Handle, jsonText, step } from "../../../sdk/assemblyscript/index";

const MAGIC: u32 = 0x31534346; // "FCS1"
const CHUNK: i32 = 1 << 20;
const TABLE = new StaticArray<u32>(256);

function initTable(): void {
  for (let n: u32 = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    unchecked(TABLE[n] = c);
  }
}

function crcUpdate(crc: u32, ptr: usize, len: i32): u32 {
  for (let i = 0; i < len; i++) {
    crc = unchecked(TABLE[(crc ^ load<u8>(ptr + i)) & 0xff]) ^ (crc >>> 8);
  }
  return crc;
}

export function write(): i32 {
  initTable();
  const input = step.input();
  const path = jsonText(input, "path");
  if (path === null) abort("write: no path");
  const src = new Handle(1);
  const total = src.size();
  const buf = new Uint8Array(CHUNK);
  let crc: u32 = 0xffffffff;
  let off: i64 = 0;
  while (off < total) {
    const got = src.read(off, buf);
    crc = crcUpdate(crc, buf.dataStart, got);
    off += got;
  }
  crc ^= 0xffffffff;
  const out = Handle.create(total + 16);
  const head = new Uint8Array(16);
  store<u32>(head.dataStart, MAGIC);
  store<u64>(head.dataStart + 4, <u64> total);
  store<u32>(head.dataStart + 12, crc);
  out.write(head);
  off = 0;
  while (off < total) {
    const got = src.read(off, buf);
    out.writeFrom(buf.dataStart, got);
    off += got;
  }
  artifacts.putHandle(path!, out);
  step.output("{}");
  return 0;
}

export function read(): i32 {
  initTable();
  const input = step.input();
  const path = jsonText(input, "path");
  if (path === null) abort("read: no path");
  const src = artifacts.get(path!);
  const head = new Uint8Array(16);
  if (src.read(0, head) < 16 || load<u32>(head.dataStart) != MAGIC) {
    abort("not a checksum_store object: " + path!);
  }
  const size = load<u64>(head.dataStart + 4);
  const want = load<u32>(head.dataStart + 12);
  if (<i64> size + 16 != src.size()) abort("truncated object: " + path!);
  const out = Handle.create(<i64> size);
  const buf = new Uint8Array(CHUNK);
  let crc: u32 = 0xffffffff;
  let off: i64 = 16;
  const end: i64 = src.size();
  while (off < end) {
    const got = src.read(off, buf);
    crc = crcUpdate(crc, buf.dataStart, got);
    out.writeFrom(buf.dataStart, got);
    off += got;
  }
  if ((crc ^ 0xffffffff) != want) abort("checksum mismatch: " + path! + " is corrupted");
  step.output('{"handle":' + out.id.toString() + "}");
  return 0;
}
