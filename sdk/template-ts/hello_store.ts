/**
 * `HelloArtifactStore` (`type: hello`): an artifact store keeping artifacts
 * under `path/namespace`, delegating the file work to flowyml's local store.
 * Replace it with your component; keep the shape: a config schema, the
 * contract's required methods, `toDict()` without secrets, `permissions()`.
 * @module
 */
import {
  ArtifactStore,
  LocalArtifactStore,
  type PermissionNeeds,
  type StoredObject,
} from "flowyml";
import { z } from "zod";

/** Options of {@linkcode HelloArtifactStore}: what `flowyml.yaml` may set. */
export interface HelloArtifactStoreOptions {
  /** Instance name (default `hello`). */
  name?: string;
  /** Folder holding the artifacts (default `.flowyml/artifacts`). */
  path?: string;
  /** Sub-folder every artifact goes under (default `hello`). */
  namespace?: string;
}

/** Config schema: what `flowyml.yaml` may set; `flowyml component show hello` prints it. */
export const helloArtifactStoreSchema: z.ZodType<
  { name?: string; path: string; namespace: string },
  HelloArtifactStoreOptions
> = z.object({
  name: z.string().optional(),
  path: z.string().default(".flowyml/artifacts").describe(
    "folder holding the artifacts",
  ),
  namespace: z.string().default("hello").describe(
    "sub-folder every artifact goes under",
  ),
}).strict();

/** An artifact store: files under `path/namespace`. */
export class HelloArtifactStore extends ArtifactStore {
  /** The `type:` users write in flowyml.yaml. */
  static readonly type = "hello";
  /** Shown by `flowyml component list`; bump it with every release. */
  static readonly version = "0.1.0";
  /** Validates a config before the class is constructed. */
  static readonly configSchema = helloArtifactStoreSchema;
  /** Configured folder. */
  readonly path: string;
  /** Sub-folder of `path`. */
  readonly namespace: string;
  #files: LocalArtifactStore;

  constructor(options: HelloArtifactStoreOptions = {}) {
    super(options.name ?? "hello");
    this.path = options.path ?? ".flowyml/artifacts";
    this.namespace = options.namespace ?? "hello";
    this.#files = new LocalArtifactStore({
      path: `${this.path}/${this.namespace}`,
    });
  }

  override validate(): Promise<boolean> {
    return this.#files.validate();
  }
  override toDict(): Record<string, unknown> {
    return { type: "hello", path: this.path, namespace: this.namespace };
  }
  /** Every Deno permission the component needs: `flowyml permissions` adds them up. */
  override permissions(): PermissionNeeds {
    return this.#files.permissions();
  }
  override uriFor(path: string): string {
    return this.#files.uriFor(path);
  }
  override writeBytes(path: string, data: Uint8Array): Promise<void> {
    return this.#files.writeBytes(path, data);
  }
  override readBytes(path: string): Promise<Uint8Array> {
    return this.#files.readBytes(path);
  }
  override writeStream(
    path: string,
    stream: ReadableStream<Uint8Array>,
  ): Promise<number> {
    return this.#files.writeStream(path, stream);
  }
  override readStream(path: string): Promise<ReadableStream<Uint8Array>> {
    return this.#files.readStream(path);
  }
  override exists(path: string): Promise<boolean> {
    return this.#files.exists(path);
  }
  override list(prefix?: string): Promise<StoredObject[]> {
    return this.#files.list(prefix);
  }
  override delete(path: string): Promise<void> {
    return this.#files.delete(path);
  }
}
