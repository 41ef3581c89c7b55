/**
 * Content-addressed artifacts on any {@linkcode ArtifactStore}: values are
 * serialized, hashed (sha256) and stored once under `objects/<aa>/<hash>`, so
 * identical bytes are stored once and every store shares one layout.
 * @module
 */
import type { ArtifactStore } from "./contracts.ts";
import { explainPermission } from "./errors.ts";
import { sha256Hex, sha256Stream } from "./hash.ts";
import type { ArtifactRef } from "./records.ts";
import { getSerializers, type SerializerRegistry } from "./serializers.ts";

/** Objects at least this large are looked up before writing. */
const DEDUP_CHECK_MIN = 64 * 1024;

/** Path of a content hash in any store. */
export function objectPath(hash: string): string {
  return `objects/${hash.slice(0, 2)}/${hash}`;
}

/**
 * Serialize and store a value, content-addressed. Identical large content is
 * never rewritten; a small object is rewritten atomically with the same bytes.
 */
export async function putValue(
  store: ArtifactStore,
  value: unknown,
  options: { serializers?: SerializerRegistry } = {},
): Promise<ArtifactRef> {
  const ser = (options.serializers ?? getSerializers()).forValue(value);
  const { bytes, meta } = ser.serialize(value);
  const hash = sha256Hex(bytes);
  const path = objectPath(hash);
  try {
    // Small objects are just (re)written, atomically: cheaper than asking whether they exist
    // (new outputs are the common case; a step that would reproduce its outputs is a cache hit).
    // Large ones are checked first, so identical content is never uploaded twice.
    if (bytes.byteLength <= DEDUP_CHECK_MIN || !(await store.exists(path))) {
      await store.writeBytes(path, bytes);
    }
  } catch (err) {
    throw explainPermission(err, `artifact store "${store.name}" writing ${store.uriFor(path)}`);
  }
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
 * written to a temporary path while hashed, then moved to its content path.
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
  if (await store.exists(path)) await store.delete(tmp);
  else await store.move(tmp, path);
  return { hash, path, uri: store.uriFor(path), size, serializer: "bytes", serializerVersion: 1 };
}

/** Load and deserialize an artifact. */
export async function loadValue(
  store: ArtifactStore,
  ref: ArtifactRef,
  options: { serializers?: SerializerRegistry } = {},
): Promise<unknown> {
  let bytes: Uint8Array;
  try {
    bytes = await store.readBytes(ref.path);
  } catch (err) {
    throw explainPermission(err, `artifact store "${store.name}" reading ${ref.uri}`);
  }
  return (options.serializers ?? getSerializers()).get(ref.serializer).deserialize(bytes, ref.meta);
}
