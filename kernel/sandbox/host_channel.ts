/**
 * The plugin host process's end of its channel to the kernel: blocking frame
 * reads on stdin and writes on stdout (Extism's host functions are
 * synchronous, so nothing here awaits), and a call's inputs, which follow its
 * CALL frame as INPUT frames, read into their handles only as far as the
 * plugin reads them. Frame format: protocol.ts ({@linkcode FRAME}).
 * @module
 */
import { FRAME, FRAME_HEADER, frameHead } from "./protocol.ts";

/** A frame read from stdin. */
export interface Frame {
  /** Frame type ({@linkcode FRAME}). */
  type: number;
  /** The JSON meta bytes. */
  meta: Uint8Array;
  /** The data bytes, in a buffer of their own. */
  data: Uint8Array;
}

/** An input handle's buffer, filled as its INPUT frame arrives. */
export interface Arriving {
  /** Holds the input once it has arrived. */
  buf: ArrayBuffer;
  /** Size of the input. */
  len: number;
  /** Bytes of `buf` that hold data so far. */
  filled: number;
}

const SMALL_FRAME = 64 * 1024;
const MAX_META = 64 << 20;
const enc = new TextEncoder();
/** The call's input handles whose bytes are still on stdin, in order. */
const arriving: Arriving[] = [];
let arrivingHead = false;

function readFull(buf: Uint8Array): void {
  let o = 0;
  while (o < buf.length) {
    const n = Deno.stdin.readSync(buf.subarray(o));
    if (n === null) Deno.exit(0); // the kernel closed the channel
    o += n;
  }
}

const head = new Uint8Array(FRAME_HEADER);
const headView = new DataView(head.buffer);

/** Read the next frame from stdin (blocking); the process exits when the kernel closed it. */
export function readFrame(): Frame {
  readFull(head);
  const metaLen = headView.getUint32(0, true);
  const dataLen = headView.getUint32(4, true);
  if (metaLen > MAX_META) throw new Error(`frame meta of ${metaLen} bytes`);
  const meta = new Uint8Array(metaLen);
  readFull(meta);
  // Data gets its own buffer: it becomes a handle (or the module) as is.
  const data = new Uint8Array(dataLen);
  readFull(data);
  return { type: head[8], meta, data };
}

function writeAll(b: Uint8Array): void {
  let o = 0;
  while (o < b.length) o += Deno.stdout.writeSync(b.subarray(o));
}

/** Write a frame to stdout: a small one in a single write, a large one's data uncopied after its head. */
export function send(type: number, meta: unknown, data?: Uint8Array): void {
  const m = meta instanceof Uint8Array ? meta : enc.encode(JSON.stringify(meta ?? {}));
  const n = data?.length ?? 0;
  if (n && n <= SMALL_FRAME) {
    const all = frameHead(type, m, { data: n, room: n });
    all.set(data!, all.length - n);
    writeAll(all);
    return;
  }
  writeAll(frameHead(type, m, { data: n }));
  if (n) writeAll(data!);
}

/**
 * Read the call's inputs from stdin (they follow its CALL frame) until
 * handle `hd` holds `end` bytes, or, without `hd`, all of them: stdin must
 * be drained before the next frame is read.
 */
export function arrive(hd?: Arriving, end = 0): void {
  while (arriving.length && (!hd || hd.filled < end)) {
    const cur = arriving[0];
    if (!arrivingHead) {
      readFull(head);
      if (head[8] !== FRAME.INPUT || headView.getUint32(4, true) !== cur.len) {
        throw new Error(`expected an INPUT frame of ${cur.len} bytes`);
      }
      arrivingHead = true;
    }
    if (cur.filled < cur.len) {
      const n = Deno.stdin.readSync(new Uint8Array(cur.buf, cur.filled, cur.len - cur.filled));
      if (n === null) Deno.exit(0);
      cur.filled += n;
    }
    if (cur.filled === cur.len) {
      arriving.shift();
      arrivingHead = false;
    }
  }
}

/** Expect the bytes of input handle `hd` on stdin, after those already expected. */
export function expectInput(hd: Arriving): void {
  arriving.push(hd);
}
