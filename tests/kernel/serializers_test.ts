/**
 * Issue 10, case 2: values are stored losslessly or refused at the step
 * boundary. A seeded property test stores hundreds of generated nested
 * values through a real local artifact store: each comes back exactly
 * (deep equality that tells -0 from 0, NaN, holes and prototypes apart) or
 * is refused with UnstorableValueError; none is silently changed.
 */
import assert from "node:assert/strict";
import {
  getSerializers,
  loadValue,
  LocalArtifactStore,
  LocalOrchestrator,
  objectPath,
  Pipeline,
  putValue,
  registerSerializer,
  sha256Hex,
  SQLiteMetadataStore,
  Stack,
  step,
  UnstorableValueError,
  WorkerExecutor,
} from "../../mod.ts";
import { tempDir } from "../_helpers.ts";
import { tempStack } from "./_stack.ts";

// ---- exact deep equality ----

function same(a: unknown, b: unknown, path: string, seen = new Map<object, object>()): void {
  if (typeof a !== typeof b) throw new Error(`${path}: type ${typeof a} became ${typeof b}`);
  if (a === null || typeof a !== "object") {
    if (!Object.is(a, b)) throw new Error(`${path}: ${String(a)} became ${String(b)}`);
    return;
  }
  const x = a as Record<string, unknown>, y = b as Record<string, unknown>;
  if (y === null) throw new Error(`${path}: became null`);
  if (seen.has(x)) {
    if (seen.get(x) !== y) throw new Error(`${path}: shared reference not kept`);
    return;
  }
  seen.set(x, y);
  if (Object.getPrototypeOf(x) !== Object.getPrototypeOf(y)) {
    throw new Error(`${path}: prototype ${x.constructor?.name} became ${y.constructor?.name}`);
  }
  if (ArrayBuffer.isView(x)) {
    const u = new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
    const v = new Uint8Array(
      (y as unknown as ArrayBufferView).buffer,
      (y as unknown as ArrayBufferView).byteOffset,
      (y as unknown as ArrayBufferView).byteLength,
    );
    if (u.length !== v.length || u.some((n, i) => n !== v[i])) throw new Error(`${path}: bytes`);
    return;
  }
  if (x instanceof Date) {
    if (!Object.is(x.getTime(), (y as unknown as Date).getTime())) throw new Error(`${path}: date`);
    return;
  }
  if (x instanceof RegExp) {
    if (String(x) !== String(y)) throw new Error(`${path}: regexp`);
    return;
  }
  if (x instanceof Map) {
    const ea = [...x], eb = [...(y as unknown as Map<unknown, unknown>)];
    if (ea.length !== eb.length) throw new Error(`${path}: map size`);
    ea.forEach((
      [k, v],
      i,
    ) => (same(k, eb[i][0], `${path}.key${i}`, seen),
      same(v, eb[i][1], `${path}.get(${i})`, seen))
    );
    return;
  }
  if (x instanceof Set) {
    const ea = [...x], eb = [...(y as unknown as Set<unknown>)];
    if (ea.length !== eb.length) throw new Error(`${path}: set size`);
    ea.forEach((v, i) => same(v, eb[i], `${path}.<${i}>`, seen));
    return;
  }
  if (Array.isArray(x) && x.length !== (y as unknown as unknown[]).length) {
    throw new Error(`${path}: length`);
  }
  const ka = Object.keys(x), kb = Object.keys(y);
  if (ka.join("\0") !== kb.join("\0")) throw new Error(`${path}: keys ${ka} became ${kb}`);
  for (const k of ka) same(x[k], y[k], `${path}.${k}`, seen);
}

// ---- a seeded generator of nested values ----

function mulberry32(seed: number): () => number {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Model {
  constructor(public weights: number[] = [1]) {}
}

interface Gen {
  value: unknown;
  refuse: boolean;
}

function generate(r: () => number, depth = 0): Gen {
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const leaf = (): Gen => {
    const k = Math.floor(r() * 16);
    const v = [
      () => -0,
      () => NaN,
      () => pick([Infinity, -Infinity, 0, 1.5, -3, 2 ** 53]),
      () => BigInt(Math.floor(r() * 1e6)) ** 3n * pick([1n, -1n]),
      () => pick(["", "héllo", "a\u0000b", "𝔘"]),
      () => pick([true, false, null, undefined]),
      () => new Date(Math.floor(r() * 2e12)),
      () => pick([new Date(NaN), /ab+c/gi, /x/]),
      () => Float64Array.from({ length: 1 + Math.floor(r() * 5) }, () => r() - 0.5),
      () => new Int32Array([1, -2, 3]).subarray(1),
      () => new Uint8Array([0, 255, 7]),
      () => new BigInt64Array([-5n, 9n]),
      () => new Float32Array([NaN, -0, 1.25]),
      () => Math.floor(r() * 1000),
      () => pick(["x", 3.25]),
      () => pick([new Uint8ClampedArray([300 & 255]), new Uint16Array(0)]),
    ][k]();
    return { value: v, refuse: false };
  };
  if (depth > 3 || r() < 0.35) {
    if (r() < 0.04) {
      return pick([
        { value: new Model(), refuse: true },
        { value: Object.create(null), refuse: true },
        { value: () => 1, refuse: true },
        { value: new WeakMap(), refuse: true },
        { value: Symbol("s"), refuse: true },
        { value: new Error("e"), refuse: true },
      ]);
    }
    return leaf();
  }
  const n = Math.floor(r() * 4);
  const kids = Array.from({ length: n }, () => generate(r, depth + 1));
  const refuse = kids.some((k) => k.refuse);
  switch (Math.floor(r() * 5)) {
    case 0: {
      const o: Record<string, unknown> = {};
      kids.forEach((k, i) => (o[pick(["a", "b c", "__x", "1"]) + i] = k.value));
      return { value: o, refuse };
    }
    case 1: {
      const a: unknown[] = kids.map((k) => k.value);
      if (r() < 0.4) a.length += 2; // trailing holes
      if (r() < 0.3 && !kids[0]?.refuse) delete a[0]; // a hole at the start
      return { value: a, refuse };
    }
    case 2:
      return { value: new Map(kids.map((k, i) => [r() < 0.5 ? `k${i}` : i, k.value])), refuse };
    case 3:
      return { value: new Set(kids.map((k) => k.value)), refuse };
    default: {
      const o: Record<string, unknown> = { kids: kids.map((k) => k.value) };
      if (r() < 0.3) o.self = o; // a cycle
      return { value: o, refuse };
    }
  }
}

Deno.test("serializers: property test, 600 seeded values round-trip exactly or are refused", async () => {
  const t = await tempDir();
  const store = new LocalArtifactStore({ path: t.path });
  const r = mulberry32(0xf10);
  let stored = 0, refused = 0;
  const formats = new Set<string>();
  try {
    for (let i = 0; i < 600; i++) {
      const g = generate(r);
      if (g.value === undefined) continue; // a step returning nothing: tested below
      let ref;
      try {
        ref = await putValue(store, g.value);
      } catch (err) {
        assert.ok(err instanceof UnstorableValueError, `case ${i}: ${err}`);
        assert.ok(g.refuse, `case ${i} was refused but is storable: ${(err as Error).message}`);
        refused++;
        continue;
      }
      assert.ok(
        !g.refuse,
        `case ${i} holds a refusable part but was stored: ${Deno.inspect(g.value)}`,
      );
      formats.add(ref.serializer);
      const back = await loadValue(store, ref);
      try {
        same(g.value, back, "value");
      } catch (err) {
        throw new Error(
          `case ${i} changed (${(err as Error).message}):\n${Deno.inspect(g.value)}\n→ ${
            Deno.inspect(back)
          }`,
        );
      }
      stored++;
    }
    assert.ok(stored > 300 && refused > 10, `stored ${stored}, refused ${refused}`);
    for (const f of ["json", "v8", "typed_array", "bytes", "string"]) assert.ok(formats.has(f), f);
  } finally {
    await t.cleanup();
  }
});

Deno.test("serializers: the values the issue saw lost now round-trip; typed arrays stay raw", async () => {
  const t = await tempDir();
  const store = new LocalArtifactStore({ path: t.path });
  try {
    const values: unknown[] = [
      new Map([["a", 1]]),
      new Set([1, 2]),
      new Date(86_400_000),
      [NaN, Infinity, -Infinity, -0],
      { features: new Float64Array([0.5, 1.5]), labels: new Uint8Array([1, 0]) },
      [1, , 3],
      2n ** 70n,
      /re/g,
      { nested: { deep: [new Map([[1, new Set(["x"])]])] } },
    ];
    for (const v of values) same(v, await loadValue(store, await putValue(store, v)), "value");
    // Plain JSON data keeps the readable json format (and old json artifacts still load).
    const plain = await putValue(store, { a: [1, "x", null, true] });
    assert.equal(plain.serializer, "json");
    assert.equal(await Deno.readTextFile(`${t.path}/${plain.path}`), '{"a":[1,"x",null,true]}');
    // A top-level typed array is stored as its raw bytes.
    const arr = new Float64Array([1, 2, 3]);
    const raw = await putValue(store, arr);
    assert.equal(raw.serializer, "typed_array");
    assert.equal(raw.size, 24);
    // A nested one is stored as its raw bytes inside the v8 format (no text encoding).
    const big = new Float64Array(1 << 16).fill(0.1);
    const nested = await putValue(store, { big, n: 1 });
    assert.equal(nested.serializer, "v8");
    assert.ok(nested.size < big.byteLength + 64, `nested typed array stored raw: ${nested.size}`);
    // A Map and a Set (equal as JSON) are now different bytes, so different hashes.
    const m = await putValue(store, new Map([[1, 1]]));
    const s = await putValue(store, new Set([1]));
    assert.notEqual(m.hash, s.hash);
    assert.notEqual((await putValue(store, {})).hash, m.hash);
  } finally {
    await t.cleanup();
  }
});

Deno.test("serializers (pipeline): a Map is a Map on a miss and on a hit; Map and Set inputs never share a cached result", async () => {
  const { stack, cleanup } = await tempStack();
  try {
    const p = new Pipeline("kinds", { stack })
      .add(
        step(
          { name: "make", outputs: ["data"] },
          (_, ctx) =>
            ctx.params.kind === "set"
              ? new Set([1])
              : new Map([[1, { at: new Date(5), v: new Float64Array([NaN, -0]) }]]),
        ),
      )
      .add(
        step(
          { name: "describe", inputs: ["data"], outputs: ["kind"] },
          ({ data }) => data.constructor.name,
        ),
      )
      .add(
        step(
          { name: "peek", inputs: ["data"], outputs: ["peek"], cache: false },
          ({ data }) => data instanceof Map ? data.get(1) : [...data],
        ),
      );
    const miss = await p.run({ params: { kind: "map" } });
    assert.equal(miss.outputs.kind, "Map");
    const hit = await p.run({ params: { kind: "map" } });
    assert.equal(hit.steps.make.cached, true);
    assert.equal(hit.steps.describe.cached, true);
    // peek is not cached: it loads the cached Map from the store.
    const got = hit.outputs.peek as { at: Date; v: Float64Array };
    assert.ok(got.at instanceof Date && got.at.getTime() === 5);
    assert.ok(Number.isNaN(got.v[0]) && Object.is(got.v[1], -0));
    const set = await p.run({ params: { kind: "set" } });
    assert.equal(set.steps.describe.cached, false, "a Set input is not the Map input's cache hit");
    assert.equal(set.outputs.kind, "Set");
    assert.notEqual(set.steps.make.outputs.data.hash, miss.steps.make.outputs.data.hash);
  } finally {
    await cleanup();
  }
});

Deno.test("serializers: class instances, functions and undefined are refused at the step boundary, naming step, output and type", async () => {
  const { stack, cleanup } = await tempStack();
  try {
    const p = new Pipeline("refuse", { stack })
      .add(step({ name: "train", outputs: ["model", "meta"] }, () => ({
        model: { layers: [new Model([1, 2])] },
        meta: 1,
      })));
    const r = await p.run();
    assert.equal(r.status, "failed");
    assert.match(
      r.steps.train.error!,
      /step "train" output "model": a value of type Model at \.layers\[0\] cannot be stored: it would come back as a plain object[\s\S]*registerSerializer/,
    );
    const f = await new Pipeline("fn", { stack })
      .add(step({ name: "mk", outputs: ["cb"] }, () => ({ onDone: () => 1 })))
      .run();
    assert.match(f.steps.mk.error!, /step "mk" output "cb": a value of type function at \.onDone/);
    const u = await new Pipeline("undef", { stack })
      .add(step({ name: "mk", outputs: ["x"] }, () => undefined))
      .run();
    assert.match(u.steps.mk.error!, /step "mk" output "x": a value of type undefined/);
  } finally {
    await cleanup();
  }
});

Deno.test("serializers (worker executor): structured clone cannot strip a class; registered serializers still apply", async () => {
  const t = await tempDir();
  const stack = new Stack("w", {
    orchestrator: new LocalOrchestrator(),
    executor: new WorkerExecutor({ workers: 1 }),
    artifactStore: new LocalArtifactStore({ path: `${t.path}/a` }),
    metadataStore: new SQLiteMetadataStore({ path: `${t.path}/m.db` }),
  });
  const mod = `${t.path}/pipeline.ts`;
  await Deno.writeTextFile(
    mod,
    `import { Pipeline, registerSerializer, step } from "${new URL(
      "../../mod.ts",
      import.meta.url,
    )}";
export class Vec { constructor(x) { this.x = x; } }
export class Loose { constructor() { this.y = 1; } }
registerSerializer({ name: "vec_test", version: 1, canHandle: (v) => v instanceof Vec,
  serialize: (v) => ({ bytes: new TextEncoder().encode(String(v.x)) }),
  deserialize: (b) => new Vec(Number(new TextDecoder().decode(b))) });
export const vec = new Pipeline("vec", { source: import.meta.url })
  .add(step({ name: "mk", outputs: ["v", "n"] }, () => ({ v: new Vec(7), n: new Map([[1, 2]]) })))
  .add(step({ name: "one", outputs: ["w"] }, () => new Vec(8)));
export const loose = new Pipeline("loose", { source: import.meta.url })
  .add(step({ name: "mk", outputs: ["l"] }, () => ({ inner: new Loose() })));
`,
  );
  try {
    const m = await import(mod);
    const r = await m.vec.run({ stack });
    assert.equal(r.status, "completed", r.error?.message);
    assert.equal(r.steps.mk.outputs.v.serializer, "vec_test");
    assert.ok(r.outputs.v instanceof m.Vec && r.outputs.v.x === 7);
    assert.ok(r.outputs.w instanceof m.Vec && r.outputs.w.x === 8);
    assert.ok(r.outputs.n instanceof Map);
    const l = await m.loose.run({ stack });
    assert.equal(l.status, "failed");
    assert.match(l.steps.mk.error!, /step "mk" output "l": a value of type Loose at \.inner/);
  } finally {
    await stack.close();
    await t.cleanup();
    // The test module's serializer stays registered in this process: harmless to other tests.
    assert.ok(getSerializers().names().includes("vec_test"));
  }
});

Deno.test("serializers: a custom serializer for a class is used", async () => {
  class Box {
    constructor(readonly v: number) {}
  }
  registerSerializer({
    name: "box_test",
    version: 1,
    canHandle: (v) => v instanceof Box,
    serialize: (v) => ({ bytes: new Uint8Array([(v as Box).v]) }),
    deserialize: (b) => new Box(b[0]),
  });
  const t = await tempDir();
  try {
    const store = new LocalArtifactStore({ path: t.path });
    const back = await loadValue(store, await putValue(store, new Box(9)));
    assert.ok(back instanceof Box && back.v === 9);
  } finally {
    await t.cleanup();
  }
});

Deno.test("serializers: artifacts written by the old json serializer still load", async () => {
  const t = await tempDir();
  try {
    const store = new LocalArtifactStore({ path: t.path });
    // What the old json serializer wrote for { when: new Date(0), m: new Map() }.
    const bytes = new TextEncoder().encode('{"when":"1970-01-01T00:00:00.000Z","m":{}}');
    const hash = sha256Hex(bytes);
    await store.writeBytes(objectPath(hash), bytes);
    const ref = {
      hash,
      path: objectPath(hash),
      uri: store.uriFor(objectPath(hash)),
      size: bytes.length,
      serializer: "json",
      serializerVersion: 1,
    };
    assert.deepEqual(await loadValue(store, ref), { when: "1970-01-01T00:00:00.000Z", m: {} });
  } finally {
    await t.cleanup();
  }
});
