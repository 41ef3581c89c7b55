/**
 * Content-addressed artifacts on any {@linkcode ArtifactStore}: values are
 * serialized, hashed (sha256) and stored once under `objects/<aa>/<hash>`, so
 * identical bytes are stored once and every store shares one layout. Small
 * ones may instead be stored inline in the metadata store (`blobs/<hash>`,
 * committed with the step record) when the caller passes `inline`.
 *
 * Every read is verified: the bytes must hash to the {@linkcode ArtifactRef}'s
 * recorded hash, else {@linkcode ArtifactIntegrityError} is thrown and no
 * value is returned. See docs/artifacts.md.
 * @module
 */
import type { ArtifactStore } from "./artifact_store.ts";
import type { MetadataStore } from "./metadata_store.ts";
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

/** Path of an inline artifact (bytes in the metadata store's blob table). */
export function blobPath(hash: string): string {
  return `blobs/${hash}`;
}

/** The metadata store holding inline artifacts, as their readers and writers use it. */
export type BlobStore = Pick<MetadataStore, "inlineMaxBytes" | "putBlob" | "getBlob" | "blobUri">;

/**
 * Metadata stores that stored inline artifacts in this process, by the prefix of their blob
 * URIs: a reader given no `blobs` (e.g. `loadValue(stack.artifactStore, ref)`) finds an inline
 * artifact's store through its URI.
 */
const BLOB_STORES = new Map<string, WeakRef<BlobStore>>();

function remember(blobs: BlobStore): void {
  const prefix = blobs.blobUri("");
  if (BLOB_STORES.get(prefix)?.deref() !== blobs) BLOB_STORES.set(prefix, new WeakRef(blobs));
}

/** `given`, else the metadata store of this process whose blob URIs `ref.uri` starts with. */
function blobsOf(ref: { uri?: string }, given?: BlobStore): BlobStore | undefined {
  if (given || !ref.uri) return given;
  for (const [prefix, w] of BLOB_STORES) if (ref.uri.startsWith(prefix)) return w.deref();
  return undefined;
}

/**
 * The URI of an artifact, as run records and `flowyml artifacts` show it: an
 * inline artifact's is its blob's in the metadata store `blobs` (e.g.
 * `sqlite:/p/.flowyml/metadata.db#blobs/<hash>`), any other's the artifact
 * store's URI of its object.
 */
export function artifactUri(
  store: ArtifactStore,
  ref: Pick<ArtifactRef, "hash" | "path" | "inline">,
  blobs?: BlobStore,
): string {
  return ref.inline ? (blobs?.blobUri(ref.hash) ?? blobPath(ref.hash)) : store.uriFor(ref.path);
}

/** Bytes of an inline artifact, unverified; throws when they cannot be read here. */
async function blobBytes(
  ref: Pick<ArtifactRef, "hash">,
  blobs: BlobStore | undefined,
  label?: string,
): Promise<Uint8Array> {
  const what = `artifact ${label ? `${label} ` : ""}(sha256 ${ref.hash})`;
  if (!blobs) {
    throw new FlowymlError(
      `${what} is stored inline in the metadata store, which this reader was not given`,
      {
        hint:
          "read it where the stack's metadata store is reachable; to keep every artifact in the " +
          "artifact store, set `inlineMaxBytes: 0` on the metadata store and re-run the step",
      },
    );
  }
  const bytes = await blobs.getBlob(ref.hash);
  if (!bytes) {
    throw new FlowymlError(
      `${what} is missing: ${blobs.blobUri(ref.hash)} is not in the metadata store`,
      {
        hint:
          "re-run the step that made it (`flowyml artifacts verify` lists every missing artifact)",
      },
    );
  }
  return bytes;
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
 * it with `ref.hash`; an inline artifact (`ref.inline`) is read from
 * `options.blobs` (missing without it). Read errors other than missing
 * permissions count as `missing`.
 */
export async function checkObject(
  store: ArtifactStore,
  ref: Pick<ArtifactRef, "hash" | "path" | "inline"> & { size?: number },
  options: { blobs?: BlobStore } = {},
): Promise<ObjectCheck> {
  const h = sha256Stream();
  try {
    if (ref.inline) {
      const bytes = await options.blobs?.getBlob(ref.hash);
      if (!bytes) return { status: "missing" };
      h.update(bytes);
    } else if (!(await store.exists(ref.path))) return { status: "missing" };
    else if (ref.size !== undefined && ref.size <= READ_WHOLE_MAX) {
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
 * With `options.inline`, bytes up to its `inlineMaxBytes` are staged in that
 * metadata store instead (committed with the next step completion recorded
 * through it) and the reference is marked `inline`: pass it only when every
 * reader of the run reaches that metadata store.
 * A value no serializer stores exactly throws {@linkcode UnstorableValueError},
 * its message starting with `options.label` (e.g. `step "train" output "model"`).
 */
export async function putValue(
  store: ArtifactStore,
  value: unknown,
  options: { serializers?: SerializerRegistry; label?: string; inline?: BlobStore } = {},
): Promise<ArtifactRef> {
  let ser, bytes, meta;
  try {
    ser = await (options.serializers ?? getSerializers()).loadedFor(value);
    ({ bytes, meta } = ser.serialize(value));
  } catch (err) {
    if (err instanceof UnstorableValueError && options.label) throw err.withLabel(options.label);
    throw err;
  }
  const hash = sha256Hex(bytes);
  const blobs = options.inline;
  const inline = !!blobs && blobs.inlineMaxBytes > 0 && bytes.byteLength <= blobs.inlineMaxBytes;
  const path = inline ? blobPath(hash) : objectPath(hash);
  if (inline) {
    blobs.putBlob(hash, bytes);
    remember(blobs);
  } else await writeObject(store, hash, bytes);
  return {
    hash,
    path,
    uri: artifactUri(store, { hash, path, inline }, blobs),
    ...(inline ? { inline } : {}),
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
 * Load and deserialize an artifact (an inline one from `options.blobs`),
 * after checking its bytes hash to `ref.hash`: a mismatch throws {@linkcode ArtifactIntegrityError} naming
 * `options.label` (e.g. `input "rows" of step "train"`), the URI and both
 * hashes, and never yields a value.
 */
export async function loadValue(
  store: ArtifactStore,
  ref: ArtifactRef,
  options: { serializers?: SerializerRegistry; label?: string; blobs?: BlobStore } = {},
): Promise<unknown> {
  let bytes: Uint8Array;
  try {
    bytes = ref.inline
      ? await blobBytes(ref, blobsOf(ref, options.blobs), options.label)
      : await store.readBytes(ref.path);
  } catch (err) {
    throw explainPermission(err, `artifact store "${store.name}" reading ${ref.uri}`);
  }
  const actual = sha256Hex(bytes);
  if (actual !== ref.hash) {
    throw new ArtifactIntegrityError({
      uri: artifactUri(store, ref, blobsOf(ref, options.blobs)),
      expected: ref.hash,
      actual,
      label: options.label,
    });
  }
  const ser = await (options.serializers ?? getSerializers()).loaded(ref.serializer);
  return ser.deserialize(bytes, ref.meta);
}

/**
 * Read an artifact's bytes (an inline one from `options.blobs`) as a stream, hashing them on the way: when the
 * bytes do not hash to `ref.hash`, the stream errors with
 * {@linkcode ArtifactIntegrityError} instead of closing, so a consumer that
 * reads to the end never takes corrupt bytes for a whole artifact.
 */
export async function loadStream(
  store: ArtifactStore,
  ref: Pick<ArtifactRef, "hash" | "path" | "inline"> & { uri?: string },
  options: { label?: string; blobs?: BlobStore } = {},
): Promise<ReadableStream<Uint8Array>> {
  const { label } = options;
  const blobs = ref.inline ? blobsOf(ref, options.blobs) : undefined;
  const h = sha256Stream();
  const verify = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, c) {
      h.update(chunk);
      c.enqueue(chunk);
    },
    flush(c) {
      const actual = h.digest("hex");
      if (actual !== ref.hash) {
        const uri = artifactUri(store, ref, blobs);
        c.error(new ArtifactIntegrityError({ uri, expected: ref.hash, actual, label }));
      }
    },
  });
  const source = ref.inline
    ? ReadableStream.from([await blobBytes(ref, blobs, label)])
    : await store.readStream(ref.path);
  return source.pipeThrough(verify);
}
