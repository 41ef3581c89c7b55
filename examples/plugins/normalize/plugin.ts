// Feature normalizer: a WASM step. Reads a Float64Array input (`raw` by
// default), standardizes it (z-score, or min-max with config {"mode":"minmax"})
// and writes a Float64Array output. Streams through 1 MiB chunks with direct
// host copies, so a 100 MiB artifact needs ~1 MiB of guest memory; the output
// is written in place into the input handle (Handle.take), so no second
// buffer is allocated.
import { Handle, jsonText, log, step } from "../../../sdk/assemblyscript/index";

const CHUNK: i32 = 1 << 20;

export function normalize(): i32 {
  const input = step.input();
  const cfg = step.config(input);
  const mode = jsonText(cfg, "mode");
  const minmax = mode !== null && mode! == "minmax";
  const name = jsonText(input, "input_name");
  const src = step.inputHandle(input, name === null ? "raw" : name!);
  const total = src.size();
  const n = total / 8;
  const buf = new Float64Array(CHUNK / 8);
  const ptr = buf.dataStart;
  // Pass 1: statistics. Loops are unrolled by 4: the kernel's interrupt check
  // counts loop iterations, so fewer iterations cost less.
  let s0: f64 = 0, s1: f64 = 0, s2: f64 = 0, s3: f64 = 0;
  let q0: f64 = 0, q1: f64 = 0, q2: f64 = 0, q3: f64 = 0;
  let lo: f64 = Infinity;
  let hi: f64 = -Infinity;
  let off: i64 = 0;
  while (off < total) {
    const got = src.readInto(off, ptr, CHUNK);
    if (got <= 0) break;
    const m = got >> 3;
    const m4 = m & ~3;
    let i = 0;
    for (; i < m4; i += 4) {
      const a = unchecked(buf[i]);
      const b = unchecked(buf[i + 1]);
      const c = unchecked(buf[i + 2]);
      const d = unchecked(buf[i + 3]);
      s0 += a; s1 += b; s2 += c; s3 += d;
      q0 += a * a; q1 += b * b; q2 += c * c; q3 += d * d;
      // Comparisons (not f64.min/max) so NaN values are skipped, as before.
      lo = a < lo ? a : lo; lo = b < lo ? b : lo; lo = c < lo ? c : lo; lo = d < lo ? d : lo;
      hi = a > hi ? a : hi; hi = b > hi ? b : hi; hi = c > hi ? c : hi; hi = d > hi ? d : hi;
    }
    for (; i < m; i++) {
      const x = unchecked(buf[i]);
      s0 += x;
      q0 += x * x;
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
    off += got;
  }
  const sum = (s0 + s1) + (s2 + s3);
  const sumSq = (q0 + q1) + (q2 + q3);
  const mean = n > 0 ? sum / <f64> n : 0;
  const variance = n > 0 ? sumSq / <f64> n - mean * mean : 0;
  const sd = Math.sqrt(variance > 0 ? variance : 0);
  const shift = minmax ? lo : mean;
  const range = minmax ? hi - lo : sd;
  const scale = range > 0 ? 1.0 / range : 1.0;
  // Pass 2: transform in place. The input handle is this call's own copy, so
  // taking it as the output avoids allocating a second 100 MiB buffer.
  const out = src.take();
  off = 0;
  while (off < total) {
    const got = src.readInto(off, ptr, CHUNK);
    if (got <= 0) break;
    const m = got >> 3;
    const m4 = m & ~3;
    let i = 0;
    for (; i < m4; i += 4) {
      unchecked(buf[i] = (buf[i] - shift) * scale);
      unchecked(buf[i + 1] = (buf[i + 1] - shift) * scale);
      unchecked(buf[i + 2] = (buf[i + 2] - shift) * scale);
      unchecked(buf[i + 3] = (buf[i + 3] - shift) * scale);
    }
    for (; i < m; i++) unchecked(buf[i] = (buf[i] - shift) * scale);
    out.writeAt(off, ptr, got);
    off += got;
  }
  log("normalized " + n.toString() + " values (" + (minmax ? "minmax" : "zscore") + ")");
  const outName = jsonText(input, "output_name");
  step.output(step.outputs([
    step.handleOutput(
      outName === null ? "features" : outName!,
      out,
      "typed_array",
      '{"type":"Float64Array"}',
    ),
  ]));
  return 0;
}
