/**
 * The artifact store contract: {@linkcode ArtifactStore}, which stores bytes
 * under paths through one of two small shapes (the seed's `save`/`load`, or
 * byte primitives) and builds the rest (streams, `move`, serialized values)
 * on it, plus {@linkcode StoredObject}, what its `list` returns.
 * @module
 */
import { StackComponent } from "./component.ts";
import { getSerializers } from "./serializers.ts";
import type { ComponentError } from "./errors.ts";
import {
  bytesFromLoaded,
  implementsOwn,
  notSupported,
  readWhole,
  streamOfBytes,
  typeOfComponent,
} from "./contract_defaults.ts";

/** A listed object in an artifact store. */
export interface StoredObject {
  /** Path inside the store, as passed to `writeBytes`. */
  path: string;
  /** Size in bytes. */
  size: number;
}

const STORE_SHAPES = "save(artifact, path)/load(path)/exists(path), or writeBytes(path, bytes)/" +
  "readBytes(path)/exists(path)/uriFor(path)";

/**
 * Stores bytes under paths (the seed's `ArtifactStore`). A store implements
 * one of two small shapes (plus `toDict`):
 *
 * - the seed's: `save(artifact, path)`, `load(path)`, `exists(path)`; flowyml
 *   then stores serialized bytes through `save(bytes, path)`, so `load` must
 *   give the `Uint8Array` back;
 * - the byte primitives: `writeBytes`, `readBytes`, `exists`, `uriFor`;
 *   `save`/`load` are then built on them with the serializer registry.
 *
 * Streams default to whole reads and writes, `move` to copy then delete, and
 * `list`/`delete` to a "not supported" error (garbage collection, artifact
 * verification and the WASM broker's list need them). The engine stores step
 * outputs content-addressed under `objects/<aa>/<sha256>` on every store.
 */
export abstract class ArtifactStore extends StackComponent {
  /** Registry kind of every artifact store. */
  static override readonly kind = "artifact_store" as const;
  /**
   * Small step outputs of runs whose steps execute in this process may be kept inline in the
   * metadata store instead of here (docs/artifacts.md). Default `false`: every output is an
   * object in this store; the local filesystem store says `true`.
   */
  readonly acceptsInline: boolean = false;
  /** Full URI of a path, e.g. `file:///…`, `s3://bucket/…`. Default: `<name>://<path>`. */
  uriFor(path: string): string {
    return `${this.name}://${path}`;
  }
  /** Write bytes atomically: readers never see a partial object. Default: `save(bytes, path)`. */
  async writeBytes(path: string, data: Uint8Array): Promise<void> {
    if (!implementsOwn(this, "save", ArtifactStore)) throw this.#neither("writeBytes");
    await this.save(data, path);
  }
  /** Read all bytes. Default: `load(path)`, which must return a `Uint8Array`. */
  async readBytes(path: string): Promise<Uint8Array> {
    if (!implementsOwn(this, "load", ArtifactStore)) throw this.#neither("readBytes");
    return bytesFromLoaded(await this.load(path), `${typeOfComponent(this)}.load("${path}")`);
  }
  /** Write a stream atomically. Returns bytes written. Default: read it whole, then `writeBytes`. */
  async writeStream(path: string, stream: ReadableStream<Uint8Array>): Promise<number> {
    const bytes = await readWhole(stream);
    await this.writeBytes(path, bytes);
    return bytes.byteLength;
  }
  /** Read as a stream. Default: `readBytes` as one chunk. */
  async readStream(path: string): Promise<ReadableStream<Uint8Array>> {
    return streamOfBytes(await this.readBytes(path));
  }
  /** True when an object exists at `path`. */
  abstract exists(path: string): Promise<boolean>;
  /** Objects under a prefix. Default: not supported. */
  list(_prefix?: string): Promise<StoredObject[]> {
    return Promise.reject(notSupported(this, "list", {
      needs: "list(prefix)",
      usedBy: "`flowyml artifacts verify`, garbage collection and the WASM broker's list",
    }));
  }
  /** Delete an object; deleting a missing object is not an error. Default: not supported. */
  delete(_path: string): Promise<void> {
    return Promise.reject(notSupported(this, "delete", {
      needs: "delete(path)",
      usedBy: "putStream() (it writes to a temporary path, then moves) and garbage collection",
    }));
  }

  /** Move an object (used to publish content-addressed uploads). Default: copy then delete. */
  async move(from: string, to: string): Promise<void> {
    await this.writeStream(to, await this.readStream(from));
    await this.delete(from);
  }

  /**
   * Serialize `artifact` with the serializer registry and store it at `path`
   * (a `.flowyml.json` side file records the serializer). Returns its URI.
   */
  async save(artifact: unknown, path: string): Promise<string> {
    if (!implementsOwn(this, "writeBytes", ArtifactStore)) throw this.#neither("save");
    const ser = await getSerializers().loadedFor(artifact);
    const { bytes, meta } = ser.serialize(artifact);
    await this.writeBytes(path, bytes);
    const side = { serializer: ser.name, version: ser.version, meta: meta ?? {} };
    await this.writeBytes(`${path}.flowyml.json`, new TextEncoder().encode(JSON.stringify(side)));
    return this.uriFor(path);
  }

  /** Load what {@linkcode save} stored. */
  async load(path: string): Promise<unknown> {
    if (!implementsOwn(this, "readBytes", ArtifactStore)) throw this.#neither("load");
    const bytes = await this.readBytes(path);
    let side: { serializer: string; meta?: Record<string, unknown> } = { serializer: "bytes" };
    if (await this.exists(`${path}.flowyml.json`)) {
      side = JSON.parse(new TextDecoder().decode(await this.readBytes(`${path}.flowyml.json`)));
    }
    return (await getSerializers().loaded(side.serializer)).deserialize(bytes, side.meta);
  }

  #neither(method: string): ComponentError {
    return notSupported(this, method, { needs: STORE_SHAPES });
  }
}
