/**
 * Serializer formats on realistic step outputs (issue 10): `node:v8` (the
 * built-in `v8` serializer), `npm:msgpackr` with its structured-clone
 * extensions (with and without records) and JSON, each with a fidelity check
 * on the values JSON loses. Figures and the choice: docs/artifacts.md.
 *
 * Run: `deno task bench serializer`. msgpackr is the version already locked
 * as a BullMQ dependency; flowyml itself does not import it.
 * @module
 */
import v8 from "node:v8";
import { Packr } from "msgpackr";

const plain = new Packr({ structuredClone: true, moreTypes: true, useRecords: false });
const records = new Packr({ structuredClone: true, moreTypes: true });
let seed = 1;
const r = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;

const nested = {
  name: "model",
  created: new Date(0),
  layers: Array.from({ length: 10 }, (_, i) => ({
    name: `l${i}`,
    w: Float64Array.from({ length: 100_000 }, r),
    b: new Float32Array(1000).fill(i),
    shape: [100, 1000],
  })),
  config: { lr: 0.01, epochs: 10, tags: new Set(["a", "b"]) },
};
const table = Array.from({ length: 10_000 }, (_, i) => ({
  id: i,
  name: `row${i}`,
  x: r(),
  y: r() * 100,
  label: i % 3 === 0 ? "cat" : "dog",
  tags: ["t" + (i % 7)],
  ts: new Date(1e12 + i),
}));
const jsonTable = table.map(({ ts, ...rest }) => ({ ...rest, ts: ts.getTime() }));
const map = new Map(
  Array.from({ length: 10_000 }, (_, i) => [`key${i}`, {
    count: i,
    mean: r(),
    hist: new Float64Array(8).fill(i),
  }]),
);

function median(f: () => unknown, n = 7): number {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    f();
    xs.push(performance.now() - t);
  }
  return xs.sort((a, b) => a - b)[n >> 1];
}

const enc = new TextEncoder();
const formats: [string, (v: unknown) => Uint8Array, (b: Uint8Array) => unknown][] = [
  ["node:v8", (v) => v8.serialize(v), (b) => v8.deserialize(b)],
  ["msgpackr", (v) => plain.pack(v), (b) => plain.unpack(b)],
  ["msgpackr records", (v) => records.pack(v), (b) => records.unpack(b)],
  ["JSON", (v) => enc.encode(JSON.stringify(v)), (b) => JSON.parse(new TextDecoder().decode(b))],
];
const cases: [string, unknown, boolean][] = [
  ["nested typed arrays (7.7 MiB)", nested, false],
  ["10k-row table with Dates", table, false],
  ["10k-row table, JSON-able", jsonTable, true],
  ["Map of 10k entries", map, false],
];
console.log("| value | format | serialize | deserialize | size |\n|---|---|---|---|---|");
for (const [name, v, jsonOk] of cases) {
  for (const [f, ser, de] of formats) {
    if (f === "JSON" && !jsonOk) continue;
    const b = ser(v);
    console.log(
      `| ${name} | ${f} | ${median(() => ser(v)).toFixed(1)} ms | ${
        median(() => de(b)).toFixed(1)
      } ms | ${(b.byteLength / 1024).toFixed(0)} KiB |`,
    );
  }
}

const odd: [string, unknown][] = [
  ["-0", -0],
  ["sparse [1, , 3]", [1, , 3]],
  ["Map with number keys", new Map([[1, 2]])],
  [
    "cycle",
    (() => {
      const o: Record<string, unknown> = {};
      o.self = o;
      return o;
    })(),
  ],
  ["array with a named key", Object.assign([1], { extra: 1 })],
  ["bigint 2^100", 2n ** 100n],
];
console.log("\n| value | node:v8 | msgpackr |\n|---|---|---|");
for (const [name, v] of odd) {
  const show = (f: () => unknown) => {
    try {
      return Deno.inspect(f(), { compact: true, breakLength: Infinity }).replaceAll("|", "\\|");
    } catch (e) {
      return `throws: ${(e as Error).message.slice(0, 40)}`;
    }
  };
  console.log(
    `| ${name} | ${show(() => v8.deserialize(v8.serialize(v)))} | ${
      show(() => plain.unpack(plain.pack(v)))
    } |`,
  );
}
