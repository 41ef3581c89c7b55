/**
 * Serializers (materializers): turn step outputs into bytes and back.
 *
 * Each serializer is registered by name with a `canHandle` test; the first
 * match in priority order wins. Built-ins: typed arrays (raw bytes, no JSON or
 * base64), `Uint8Array`, strings, plain data that JSON gives back unchanged
 * (`json`) and everything else `node:v8` gives back unchanged (`v8`: Map, Set,
 * Date, bigint, `NaN`, `-0`, sparse arrays, nested typed arrays …). Values no
 * serializer stores exactly (class instances, functions …) are refused with
 * {@linkcode UnstorableValueError}. The serializer names and versions are part
 * of the cache key. See docs/artifacts.md.
 * @module
 */
import { ConfigError, FlowymlError } from "./errors.ts";
import { storableFormat, TYPED_ARRAY_CTORS } from "./storable.ts";

export { storableFormat, UnstorableValueError } from "./storable.ts";

/** Serialized form: bytes plus whatever the serializer needs to load them back. */
export interface Serialized {
  /** The serialized value. */
  bytes: Uint8Array;
  /** Serializer-specific data needed to deserialize (stored beside the artifact). */
  meta?: Record<string, unknown>;
}

/** A serializer (the seed's materializer) for one family of values. */
export interface Serializer {
  /** Registry name, stored with each artifact. */
  name: string;
  /** Bumped when the byte format changes; part of every cache key. */
  version: number;
  /** True when this serializer can store `value`. */
  canHandle(value: unknown): boolean;
  /** Value to bytes. Should avoid copies for large binary values. */
  serialize(value: unknown): Serialized;
  /** Bytes back to a value. */
  deserialize(bytes: Uint8Array, meta?: Record<string, unknown>): unknown;
  /**
   * Loads what `serialize` and `deserialize` need, when that is costly to load in every process:
   * flowyml awaits it before the serializer's first use (a no-op after that). The built-in
   * {@linkcode v8Serializer} loads `node:v8` here. Code calling a serializer directly awaits it
   * too.
   */
  load?(): Promise<void>;
}

// Uint8Array has its own serializer (`bytes`).
const { Uint8Array: _bytes, ...TYPED_ARRAYS } = TYPED_ARRAY_CTORS;
type TypedArrayName = keyof typeof TYPED_ARRAYS;

/** Raw typed arrays (`Float64Array` …): bytes written as-is, zero-copy. */
export const typedArraySerializer: Serializer = {
  name: "typed_array",
  version: 1,
  canHandle: (v) =>
    ArrayBuffer.isView(v) && !(v instanceof DataView) && !(v instanceof Uint8Array) &&
    v.constructor.name in TYPED_ARRAYS,
  serialize(v) {
    const a = v as ArrayBufferView;
    return {
      bytes: new Uint8Array(a.buffer, a.byteOffset, a.byteLength),
      meta: { type: a.constructor.name },
    };
  },
  deserialize(bytes, meta) {
    const name = String(meta?.type) as TypedArrayName;
    const Ctor = TYPED_ARRAYS[name];
    if (!Ctor) throw new ConfigError(`typed_array: unknown array type "${meta?.type}"`);
    const el = Ctor.BYTES_PER_ELEMENT;
    // Views need aligned offsets; copy only when the buffer is misaligned.
    const aligned = bytes.byteOffset % el === 0 ? bytes : bytes.slice();
    return new Ctor(aligned.buffer as ArrayBuffer, aligned.byteOffset, aligned.byteLength / el);
  },
};

/** Plain bytes. */
export const bytesSerializer: Serializer = {
  name: "bytes",
  version: 1,
  canHandle: (v) => v instanceof Uint8Array,
  serialize: (v) => ({ bytes: v as Uint8Array }),
  deserialize: (bytes) => bytes,
};

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Strings, stored as UTF-8. */
export const stringSerializer: Serializer = {
  name: "string",
  version: 1,
  canHandle: (v) => typeof v === "string",
  serialize: (v) => ({ bytes: enc.encode(v as string) }),
  deserialize: (bytes) => dec.decode(bytes),
};

function jsonExact(v: unknown): boolean {
  try {
    return storableFormat(v) === "json";
  } catch {
    return false; // the v8 serializer refuses it, naming the offending part
  }
}

/**
 * Plain data that JSON gives back unchanged: objects, arrays without holes,
 * finite numbers other than `-0`, strings, booleans, null. Anything else goes
 * to {@linkcode v8Serializer}. Artifacts written by earlier versions, which
 * stored any JSON-able value here, still load.
 */
export const jsonSerializer: Serializer = {
  name: "json",
  version: 1,
  canHandle: jsonExact,
  serialize(v) {
    const text = JSON.stringify(v);
    if (text === undefined) throw new ConfigError("json serializer: value is not JSON-able");
    return { bytes: enc.encode(text) };
  },
  deserialize: (bytes) => JSON.parse(dec.decode(bytes)),
};

/**
 * Structured values in the `node:v8` format (Node's structured serialization):
 * Map, Set, Date, RegExp, bigint, `NaN`/`±Infinity`, `-0`, `undefined`, sparse
 * arrays, shared and cyclic references, and typed arrays nested anywhere
 * (stored as raw bytes). Class instances, null-prototype objects, functions,
 * symbols and WeakMaps are refused: v8 would give them back changed.
 */
export const v8Serializer: Serializer = {
  name: "v8",
  version: 1,
  canHandle: (v) => v !== undefined,
  serialize(v) {
    storableFormat(v); // throws UnstorableValueError for what v8 would change
    const b = loadedV8().serialize(v);
    return { bytes: new Uint8Array(b.buffer, b.byteOffset, b.byteLength) };
  },
  deserialize: (bytes) => loadedV8().deserialize(bytes),
  // node:v8 starts Deno's Node compatibility layer (≈ 4 ms): only processes storing such values pay.
  async load() {
    v8 ??= await import("node:v8");
  },
};

let v8: typeof import("node:v8") | undefined;

function loadedV8(): typeof import("node:v8") {
  if (v8) return v8;
  throw new FlowymlError("the v8 serializer was used before it was loaded", {
    hint: "await serializer.load?.() before serialize() or deserialize() (flowyml does)",
  });
}

/** Ordered collection of serializers. Custom ones go before the built-ins. */
export class SerializerRegistry {
  #list: Serializer[] = [];
  #byName = new Map<string, Serializer>();

  /** A registry holding `builtins` (default: typed arrays, bytes, strings, JSON, v8), in that order. */
  constructor(builtins: Serializer[] = [
    typedArraySerializer,
    bytesSerializer,
    stringSerializer,
    jsonSerializer,
    v8Serializer,
  ]) {
    for (const s of builtins) this.register(s, { last: true });
  }

  /** Add a serializer; by default it takes priority over those already registered. */
  register(s: Serializer, options: { last?: boolean } = {}): void {
    if (this.#byName.has(s.name)) this.#list = this.#list.filter((x) => x.name !== s.name);
    this.#byName.set(s.name, s);
    if (options.last) this.#list.push(s);
    else this.#list.unshift(s);
  }

  /** The serializer registered under `name`. */
  get(name: string): Serializer {
    const s = this.#byName.get(name);
    if (!s) {
      throw new ConfigError(`no serializer named "${name}"`, {
        hint: `register it with registerSerializer(); known: ${
          [...this.#byName.keys()].join(", ")
        }`,
      });
    }
    return s;
  }

  /** The first serializer that can handle `value`; {@linkcode UnstorableValueError} when none. */
  forValue(value: unknown): Serializer {
    const s = this.#list.find((x) => x.canHandle(value));
    if (!s) {
      if (value === undefined) storableFormat(value); // throws, saying what to return instead
      const t = value === undefined ? "undefined" : value?.constructor?.name ?? typeof value;
      throw new ConfigError(`no serializer can store a value of type ${t}`, {
        hint:
          "return JSON-able data, a string, bytes or a typed array, or registerSerializer() one",
      });
    }
    return s;
  }

  /** {@linkcode get}, with its `load()` done: ready to serialize and deserialize. */
  async loaded(name: string): Promise<Serializer> {
    return await ready(this.get(name));
  }

  /** {@linkcode forValue}, with its `load()` done: ready to serialize `value`. */
  async loadedFor(value: unknown): Promise<Serializer> {
    return await ready(this.forValue(value));
  }

  /** Names in priority order. */
  names(): string[] {
    return this.#list.map((s) => s.name);
  }
}

const globalSerializers = new SerializerRegistry();

/** The process-wide serializer registry. */
export function getSerializers(): SerializerRegistry {
  return globalSerializers;
}

/** Register a custom serializer (materializer) with priority over the built-ins. */
export function registerSerializer(s: Serializer): void {
  globalSerializers.register(s);
}

/** `s` after its `load()`, if it has one. */
async function ready(s: Serializer): Promise<Serializer> {
  if (s.load) await s.load();
  return s;
}
