/**
 * Which values the built-in serializers store exactly. One walk over a value
 * decides between the `json` format (plain data that JSON gives back
 * unchanged) and the `v8` format (`node:v8`, for Map, Set, Date, RegExp,
 * bigint, `NaN`, `-0`, sparse arrays, nested typed arrays, cycles …), and
 * refuses what neither gives back unchanged (class instances, functions,
 * symbols, WeakMap …) with the path and type of the offending part.
 * @module
 */
import { FlowymlError } from "./errors.ts";

/** A value (or a part of it) that no serializer can store without changing it. */
export class UnstorableValueError extends FlowymlError {
  /** Type name of the offending part, e.g. `Model`, `function`, `WeakMap`. */
  readonly typeName: string;
  /** Where it is inside the value, e.g. `.layers[0]`; empty for the value itself. */
  readonly at: string;
  /** Why it is refused. */
  readonly why: string;
  /** The message names the type, where it is (after `options.label`) and why it is refused. */
  constructor(
    typeName: string,
    at: string,
    options: { why: string; hint: string; label?: string },
  ) {
    super(
      `${options.label ? `${options.label}: ` : ""}a value of type ${typeName}${
        at ? ` at ${at}` : ""
      } cannot be stored: ${options.why}`,
      { hint: options.hint },
    );
    this.name = "UnstorableValueError";
    this.typeName = typeName;
    this.at = at;
    this.why = options.why;
  }

  /** The same error, its message starting with `label` (e.g. `step "train" output "model"`). */
  withLabel(label: string): UnstorableValueError {
    return new UnstorableValueError(this.typeName, this.at, {
      why: this.why,
      hint: this.hint ?? "",
      label,
    });
  }
}

/** The typed-array constructors, by name (shared with the serializers). */
export const TYPED_ARRAY_CTORS = {
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
} as const;

const TYPED_ARRAY_PROTOS = new Set<unknown>(
  Object.values(TYPED_ARRAY_CTORS).map((c) => c.prototype),
);

/** Prototypes `node:v8` gives back as the same type, with their contents. */
const V8_PROTOS = new Set<unknown>([
  Object.prototype,
  Array.prototype,
  Map.prototype,
  Set.prototype,
  Date.prototype,
  RegExp.prototype,
  ArrayBuffer.prototype,
  DataView.prototype,
  Number.prototype,
  String.prototype,
  Boolean.prototype,
  BigInt.prototype,
  ...TYPED_ARRAY_PROTOS,
]);

const PLAIN_HINT =
  "return plain data (objects, arrays, Map, Set, Date, typed arrays …), or register a " +
  "serializer for this type with registerSerializer() (see docs/artifacts.md)";

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (typeof v !== "object") return typeof v;
  const proto = Object.getPrototypeOf(v);
  if (proto === null) return "Object with null prototype";
  return proto.constructor?.name || "anonymous class instance";
}

function pathText(path: (string | number)[]): string {
  return path.map((k) =>
    typeof k === "number"
      ? `[${k}]`
      : k.startsWith("<")
      ? `.${k}`
      : /^[A-Za-z_$][\w$]*$/.test(k)
      ? `.${k}`
      : `[${JSON.stringify(k)}]`
  ).join("");
}

/** Arrays at least this long go to the v8 format without checking for holes or named keys. */
const BIG_ARRAY = 1 << 16;

/** Walk state: whether everything so far is exact JSON, objects visited, the current path. */
interface Walk {
  json: boolean;
  seen: Set<object>;
  path: (string | number)[];
}

function refuse(v: unknown, w: Walk): never {
  const t = typeName(v);
  const at = pathText(w.path);
  if (typeof v === "function" || typeof v === "symbol") {
    throw new UnstorableValueError(t, at, { why: `a ${t} has no stored form`, hint: PLAIN_HINT });
  }
  if (v !== null && typeof v === "object" && Object.getPrototypeOf(v) === null) {
    throw new UnstorableValueError(t, at, {
      why: "it would come back with Object.prototype",
      hint: "copy it into a plain object ({ ...value }) or a Map",
    });
  }
  throw new UnstorableValueError(t, at, {
    why: "it would come back as a plain object without its class (or not at all)",
    hint: PLAIN_HINT,
  });
}

function child(v: unknown, k: string | number, w: Walk): void {
  if (v === null || typeof v === "string" || typeof v === "boolean") return;
  w.path.push(k);
  walk(v, w);
  w.path.pop();
}

function walkArray(a: unknown[], w: Walk): void {
  const n = a.length;
  if (n >= BIG_ARRAY) {
    w.json = false; // v8 keeps holes and named keys; not worth checking for them
    for (let i = 0; i < n; i++) child(a[i], i, w);
    return;
  }
  const keys = Object.keys(a);
  if (keys.length !== n) {
    w.json = false; // holes or extra named properties
    for (const k of keys) child(a[k as unknown as number], /^\d+$/.test(k) ? Number(k) : k, w);
    return;
  }
  for (let i = 0; i < n; i++) child(a[i], i, w);
}

function walkObject(v: object, w: Walk): void {
  if (w.seen.has(v)) {
    w.json = false; // shared or cyclic references: v8 keeps them, JSON does not
    return;
  }
  w.seen.add(v); // kept after the visit: a second visit means a shared reference
  const proto = Object.getPrototypeOf(v);
  if (!V8_PROTOS.has(proto)) refuse(v, w);
  if (Object.getOwnPropertySymbols(v).length) {
    throw new UnstorableValueError(typeName(v), pathText(w.path), {
      why: "it has symbol-keyed properties, which are not stored",
      hint: "use string keys, or a Map",
    });
  }
  if (proto === Array.prototype) return walkArray(v as unknown[], w);
  if (proto === Object.prototype) {
    for (const k in v) child((v as Record<string, unknown>)[k], k, w);
    return;
  }
  w.json = false;
  if (proto === Map.prototype) {
    let i = 0;
    for (const [k, x] of v as Map<unknown, unknown>) {
      child(k, `<key ${i}>`, w);
      child(x, typeof k === "string" ? `get(${JSON.stringify(k)})` : `<value ${i}>`, w);
      i++;
    }
  } else if (proto === Set.prototype) {
    let i = 0;
    for (const x of v as Set<unknown>) child(x, `<element ${i++}>`, w);
  }
  // Typed arrays, ArrayBuffer, Date, RegExp, DataView and boxed primitives have no children.
}

function walk(v: unknown, w: Walk): void {
  switch (typeof v) {
    case "string":
    case "boolean":
      return;
    case "number":
      if (!Number.isFinite(v) || Object.is(v, -0)) w.json = false;
      return;
    case "bigint":
    case "undefined":
      w.json = false;
      return;
    case "object":
      if (v === null) return;
      return walkObject(v, w);
    default:
      refuse(v, w);
  }
}

/**
 * Classify a value for the built-in serializers: `"json"` when `JSON` gives it
 * back unchanged, `"v8"` when only `node:v8` does. Throws
 * {@linkcode UnstorableValueError} for values neither stores exactly.
 */
export function storableFormat(value: unknown): "json" | "v8" {
  if (value === undefined) {
    throw new UnstorableValueError("undefined", "", {
      why: "the step returned nothing for this output",
      hint: "return a value (null when there is nothing to store)",
    });
  }
  const w: Walk = { json: true, seen: new Set(), path: [] };
  walk(value, w);
  return w.json ? "json" : "v8";
}
