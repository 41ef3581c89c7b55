// Feature normalizer: a WASM step. Reads a Float64Array input (`raw` by
// default), standardizes it (z-score, or min-max with config {"mode":"minmax"})
// and writes a Float64Array output. Streams through 1 MiB chunks with direct
// host copies, so a 100 MiB artifact needs ~1 MiB of guest memory.
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
  // Pass 1: statistics.
  let sum: f64 = 0;
  let sumSq: f64 = 0;
  let lo: f64 = Infinity;
  let hi: f64 = -Infinity;
  let off: i64 = 0;
  while (off < total) {
    const got = src.readInto(off, ptr, CHUNK);
    const m = got >> 3;
    for (let i = 0; i < m; i++) {
      const x = unchecked(buf[i]);
      sum += x;
      sumSq += x * x;
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
    off += got;
  }
  const mean = n > 0 ? sum / <f64> n : 0;
  const variance = n > 0 ? sumSq / <f64> n - mean * mean : 0;
  const sd = Math.sqrt(variance > 0 ? variance : 0);
  const shift = minmax ? lo : mean;
  const range = minmax ? hi - lo : sd;
  const scale = range > 0 ? 1.0 / range : 1.0;
  // Pass 2: transform and write.
  const out = Handle.create(total);
  off = 0;
  while (off < total) {
    const got = src.readInto(off, ptr, CHUNK);
    const m = got >> 3;
    for (let i = 0; i < m; i++) unchecked(buf[i] = (buf[i] - shift) * scale);
    out.writeFrom(ptr, got);
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
