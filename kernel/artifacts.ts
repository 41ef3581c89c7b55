/**
 * Content-addressed artifacts on any {@linkcode ArtifactStore}: values are
 * serialized, hashed (sha256) and stored once under `objects/<aa>/<hash>`, so
 * identical bytes are stored once and every store shares one layout.
 *
 * Every read is verified: the bytes must hash to the {@linkcode ArtifactRef}'s
 * recorded hash, else {@linkcode ArtifactIntegrityError} is thrown and no
 * value is returned. See docs/artifacts.md.
 * @module
 */
import type { ArtifactStore } from "./contracts.ts";
import {
  explainPermission,
  FlowymlError,
  isPermissionError,
  MissingPermissionError,
} from "./errors.ts";
import { sha256Hex, sha256Stream } from "./hash.ts";
import type { ArtifactRef } from "./records.ts";
import { getSerializers, type SerializerRegistry } from "./serializers.ts";
import { UnstorableValueError } from "./storable.ts";

/** Objects at least this large are looked up (and verified) before writing. */
const DEDUP_CHECK_MIN = 64 * 1024;

/** Objects up to this size (as recorded) are verified with one read instead of a stream. */
const READ_WHOLE_MAX = 1 << 20;

/** Path of a content hash in any store. */
export function objectPath(hash: string): string {
  return `objects/${hash.slice(0, 2)}/${hash}`;
}

/** A stored artifact whose bytes do not hash to the hash its metadata recorded. */
export class ArtifactIntegrityError extends FlowymlError {
  /** URI of the bad object. */
  readonly uri: string;
  /** sha256 the metadata recorded. */
  readonly expected: string;
  /** sha256 of the bytes found. */
  readonly actual: string;
  /** The message names the artifact (`label`), its URI and both hashes. */
  constructor(o: { uri: string; expected: string; actual: string; label?: string }) {
    super(
      `artifact ${o.label ? `${o.label} ` : ""}at ${o.uri} is corrupt: its bytes hash to ` +
        `sha256 ${o.actual}, but the metadata recorded ${o.expected}`,
      {
        hint: "the object was changed after it was written, and it is not used. List every bad " +
          "object with `flowyml artifacts verify`, then restore or delete them and re-run: the " +
          "cache treats a corrupt object as a miss and re-runs the step that made it",
      },
    );
    this.name = "ArtifactIntegrityError";
    this.uri = o.uri;
    this.expected = o.expected;
    this.actual = o.actual;
  }
}

/** What {@linkcode checkObject} found. */
export type ObjectCheck =
  | { status: "ok" }
  | { status: "missing"; error?: string }
  | { status: "corrupt"; actual: string };

/**
 * Hash the object at `ref.path` as a stream (memory stays bounded) and compare
 * it with `ref.hash`. Read errors other than missing permissions count as
 * `missing`.
 */
export async function checkObject(
  store: ArtifactStore,
  ref: Pick<ArtifactRef, "hash" | "path"> & { size?: number },
): Promise<ObjectCheck> {
  const h = sha256Stream();
  try {
    if (!(await store.exists(ref.path))) return { status: "missing" };
    if (ref.size !== undefined && ref.size <= READ_WHOLE_MAX) {
      h.update(await store.readBytes(ref.path)); // one call: cheaper than a stream for small objects
    } else {
      for await (const chunk of await store.readStream(ref.path)) h.update(chunk);
    }
  } catch (err) {
    if (err instanceof MissingPermissionError) throw err;
    if (isPermissionError(err)) {
      throw explainPermission(err, `artifact store "${store.name}" reading ${ref.path}`);
    }
    return { status: "missing", error: err instanceof Error ? err.message : String(err) };
  }
  const actual = h.digest("hex");
  return actual === ref.hash ? { status: "ok" } : { status: "corrupt", actual };
}

async function writeObject(store: ArtifactStore, hash: string, bytes: Uint8Array): Promise<void> {
  const path = objectPath(hash);
  try {
    // Small objects are just (re)written, atomically: cheaper than asking whether they exist
    // (new outputs are the common case; a step that would reproduce its outputs is a cache hit).
    // Large ones are checked first, so identical content is never uploaded twice; an existing
    // object that does not verify (corrupted in place) is replaced.
    if (
      bytes.byteLength <= DEDUP_CHECK_MIN ||
      (await checkObject(store, { hash, path })).status !== "ok"
    ) {
      await store.writeBytes(path, bytes);
    }
  } catch (err) {
    throw explainPermission(err, `artifact store "${store.name}" writing ${store.uriFor(path)}`);
  }
}

/**
 * Serialize and store a value, content-addressed. Identical large content is
 * never rewritten; a small object is rewritten atomically with the same bytes.
 * A value no serializer stores exactly throws {@linkcode UnstorableValueError},
 * its message starting with `options.label` (e.g. `step "train" output "model"`).
 */
export async function putValue(
  store: ArtifactStore,
  value: unknown,
  options: { serializers?: SerializerRegistry; label?: string } = {},
): Promise<ArtifactRef> {
  let ser, bytes, meta;
  try {
    ser = (options.serializers ?? getSerializers()).forValue(value);
    ({ bytes, meta } = ser.serialize(value));
  } catch (err) {
    if (err instanceof UnstorableValueError && options.label) throw err.withLabel(options.label);
    throw err;
  }
  const hash = sha256Hex(bytes);
  const path = objectPath(hash);
  await writeObject(store, hash, bytes);
  return {
    hash,
    path,
    uri: store.uriFor(path),
    size: bytes.byteLength,
    serializer: ser.name,
    serializerVersion: ser.version,
    ...(meta ? { meta } : {}),
  };
}

/**
 * Store a byte stream content-addressed without holding it in memory: it is
 * written to a temporary path while hashed, then moved to its content path
 * (unless a verified copy is already there).
 */
export async function putStream(
  store: ArtifactStore,
  stream: ReadableStream<Uint8Array>,
): Promise<ArtifactRef> {
  const h = sha256Stream();
  let size = 0;
  const hashing = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, c) {
      h.update(chunk);
      size += chunk.byteLength;
      c.enqueue(chunk);
    },
  });
  const tmp = `tmp/${crypto.randomUUID()}`;
  await store.writeStream(tmp, stream.pipeThrough(hashing));
  const hash = h.digest("hex");
  const path = objectPath(hash);
  if ((await checkObject(store, { hash, path })).status === "ok") await store.delete(tmp);
  else await store.move(tmp, path);
  return { hash, path, uri: store.uriFor(path), size, serializer: "bytes", serializerVersion: 1 };
}

/**
 * Load and deserialize an artifact, after checking its bytes hash to
 * `ref.hash`: a mismatch throws {@linkcode ArtifactIntegrityError} naming
 * `options.label` (e.g. `input "rows" of step "train"`), the URI and both
 * hashes, and never yields a value.
 */
export async function loadValue(
  store: ArtifactStore,
  ref: ArtifactRef,
  options: { serializers?: SerializerRegistry; label?: string } = {},
): Promise<unknown> {
  let bytes: Uint8Array;
  try {
    bytes = await store.readBytes(ref.path);
  } catch (err) {
    throw explainPermission(err, `artifact store "${store.name}" reading ${ref.uri}`);
  }
  const actual = sha256Hex(bytes);
  if (actual !== ref.hash) {
    throw new ArtifactIntegrityError({
      uri: store.uriFor(ref.path),
      expected: ref.hash,
      actual,
      label: options.label,
    });
  }
  return (options.serializers ?? getSerializers()).get(ref.serializer).deserialize(bytes, ref.meta);
}

/**
 * Read an artifact's bytes as a stream, hashing them on the way: when the
 * bytes do not hash to `ref.hash`, the stream errors with
 * {@linkcode ArtifactIntegrityError} instead of closing, so a consumer that
 * reads to the end never takes corrupt bytes for a whole artifact.
 */
export async function loadStream(
  store: ArtifactStore,
  ref: Pick<ArtifactRef, "hash" | "path">,
  options: { label?: string } = {},
): Promise<ReadableStream<Uint8Array>> {
  const h = sha256Stream();
  const verify = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, c) {
      h.update(chunk);
      c.enqueue(chunk);
    },
    flush(c) {
      const actual = h.digest("hex");
      if (actual !== ref.hash) {
        const uri = store.uriFor(ref.path);
        c.error(new ArtifactIntegrityError({ uri, expected: ref.hash, actual, ...options }));
      }
    },
  });
  return (await store.readStream(ref.path)).pipeThrough(verify);
}
