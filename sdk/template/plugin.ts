// A flowyml plugin step: doubles every byte of its first input.
// The SDK path below assumes this template sits in the flowyml repo (sdk/template);
// in your own package, vendor sdk/assemblyscript/index.ts and point the import at it.
import { Handle, log, step } from "../assemblyscript/index";

export function run(): i32 {
  const input = step.input();
  const src = new Handle(1); // first step input
  const total = src.size();
  const out = Handle.create(total);
  const buf = new Uint8Array(1 << 16);
  let off: i64 = 0;
  while (off < total) {
    const got = src.read(off, buf);
    for (let i = 0; i < got; i++) buf[i] = buf[i] * 2;
    out.writeFrom(buf.dataStart, got);
    off += got;
  }
  log("doubled " + total.toString() + " bytes of " + input.length.toString() + "-byte input spec");
  step.output(step.outputs([step.handleOutput("out", out, "bytes")]));
  return 0;
}
