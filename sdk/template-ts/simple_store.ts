/**
 * `SimpleArtifactStore` (`type: simple`): the smallest artifact store flowyml
 * accepts, in the seed's shape. It implements `save`, `load` and `exists`
 * (plus `validate`, `toDict` and `permissions`); flowyml derives the rest:
 * it stores serialized bytes through `save(bytes, path)` and reads them back
 * with `load(path)`, streams are whole reads and writes, and `list`/`delete`
 * say they are not supported. Start here; see `hello_store.ts` for a store
 * with every method (streams, listing, deleting).
 * @module
 */
import { ArtifactStore, type PermissionNeeds } from "flowyml";
import v8 from "node:v8";

/** Options of {@linkcode SimpleArtifactStore}. */
export interface SimpleArtifactStoreOptions {
  /** Instance name (default `simple`). */
  name?: string;
  /** Folder holding the artifacts (default `.flowyml/simple`). */
  path?: string;
}

/** An artifact store keeping each artifact in one file under `path`. */
export class SimpleArtifactStore extends ArtifactStore {
  /** The `type:` users write in flowyml.yaml. */
  static readonly type = "simple";
  /** Shown by `flowyml component list`; bump it with every release. */
  static readonly version = "0.1.0";
  /** Configured folder. */
  readonly path: string;

  constructor(
    { name = "simple", path = ".flowyml/simple" }: SimpleArtifactStoreOptions = {},
  ) {
    super(name);
    this.path = path;
  }

  /** Create the folder; fail with a clear message when that is impossible. */
  override async validate(): Promise<boolean> {
    await Deno.mkdir(this.path, { recursive: true });
    return true;
  }

  /**
   * Store `artifact` at `path`; returns its URI. `load` must give back what
   * was saved: node:v8 keeps a `Uint8Array` a `Uint8Array` (JSON would not).
   * The write goes to a temporary file first, so readers never see half of it.
   */
  override async save(artifact: unknown, path: string): Promise<string> {
    const file = `${this.path}/${path}`;
    await Deno.mkdir(file.slice(0, file.lastIndexOf("/")), { recursive: true });
    const tmp = `${file}.${crypto.randomUUID()}.tmp`;
    await Deno.writeFile(tmp, v8.serialize(artifact));
    await Deno.rename(tmp, file);
    return `file://${await Deno.realPath(file)}`;
  }

  /** The artifact saved at `path`. */
  override async load(path: string): Promise<unknown> {
    return v8.deserialize(await Deno.readFile(`${this.path}/${path}`));
  }

  /** True when something was saved at `path`. */
  override async exists(path: string): Promise<boolean> {
    try {
      return (await Deno.stat(`${this.path}/${path}`)).isFile;
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return false;
      throw err;
    }
  }

  /** The config needed to rebuild this store (never secrets). */
  override toDict(): Record<string, unknown> {
    return { type: "simple", path: this.path };
  }

  /** Every Deno permission the component needs: `flowyml permissions` adds them up. */
  override permissions(): PermissionNeeds {
    return { read: [this.path], write: [this.path] };
  }
}
