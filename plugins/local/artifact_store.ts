/**
 * `LocalArtifactStore` (`type: local`): artifacts as files under a folder.
 * Writes are atomic (temp file in the same folder, then rename), so a crash
 * never leaves a half artifact that looks whole.
 * @module
 */
import { dirname, join, resolve } from "../../kernel/_path.ts";
import { absolutePath } from "../../kernel/project.ts";
import { ArtifactStore, type StoredObject } from "../../kernel/contracts.ts";
import { FlowymlError, isPermissionError, MissingPermissionError } from "../../kernel/errors.ts";
import type { PermissionNeeds } from "../../kernel/component.ts";
import {
  type LocalArtifactStoreOptions,
  localArtifactStoreSchema,
  localStoreNeeds,
} from "./config.ts";

const CHUNK = 8 << 20;
/** Below this size, writes use synchronous calls: no thread-pool hop, far lower latency. */
const SMALL = 1 << 20;

export type { LocalArtifactStoreOptions };

/** Stores artifacts as files under `path` (default `.flowyml/artifacts`). */
export class LocalArtifactStore extends ArtifactStore {
  /** Registry type: `type: local` in `flowyml.yaml`. */
  static readonly type = "local";
  /** Validates the `artifact_store:` options of a stack. */
  static readonly configSchema: typeof localArtifactStoreSchema = localArtifactStoreSchema;
  /** Folder as configured. */
  readonly path: string;
  /** Absolute folder. */
  readonly root: string;
  /**
   * Small outputs of in-process runs may live in the metadata store (docs/artifacts.md): `true`
   * for this class itself. A subclass sees every output (it may seal, tag or mirror them) unless
   * it opts in with `override readonly acceptsInline = true`.
   */
  override readonly acceptsInline: boolean;

  /** A store over `options.path`; the folder is created on first use, not here. */
  constructor(options: LocalArtifactStoreOptions = {}) {
    super(options.name ?? "local");
    this.acceptsInline = new.target === LocalArtifactStore;
    this.path = options.path ?? ".flowyml/artifacts";
    this.root = absolutePath(this.path);
  }

  #abs(path: string): string {
    const p = resolve(this.root, path);
    if (p !== this.root && !p.startsWith(this.root + "/")) {
      throw new FlowymlError(`artifact path "${path}" escapes the store folder ${this.root}`);
    }
    return p;
  }

  #perm(err: unknown, access: "read" | "write"): unknown {
    if (!isPermissionError(err)) return err;
    return new MissingPermissionError(
      `local artifact store: ${access} access to ${this.path}`,
      `--allow-${access}=${this.path}`,
      err,
    );
  }

  /** `file://` URI of the absolute path; throws if `path` escapes the store folder. */
  override uriFor(path: string): string {
    return `file://${this.#abs(path)}`;
  }

  /** `{ type: "local", path }`. */
  override toDict(): Record<string, unknown> {
    return { type: "local", path: this.path };
  }

  /** Read and write on the store folder. */
  override permissions(): PermissionNeeds {
    return localStoreNeeds(this.path);
  }

  /**
   * The same needs from a validated `artifact_store:` config, without building the store: the
   * launcher asks this (cli/plan.ts). A subclass is built and asked instead, unless it defines
   * its own.
   */
  static permissionsFor(config: { path?: unknown }): PermissionNeeds {
    return localStoreNeeds(config.path);
  }

  /** Creates the folder and writes a probe file; throws with a fix hint if it cannot. */
  override async validate(): Promise<boolean> {
    try {
      await Deno.mkdir(this.root, { recursive: true });
      const probe = join(this.root, `.probe-${crypto.randomUUID()}`);
      await Deno.writeTextFile(probe, "ok");
      await Deno.remove(probe);
    } catch (err) {
      if (isPermissionError(err)) throw this.#perm(err, "write");
      throw new FlowymlError(
        `local artifact store: cannot write to ${this.root}: ${(err as Error).message}`,
        {
          hint: "check the folder exists and is writable, or set artifact_store.path",
        },
      );
    }
    return true;
  }

  #dirs = new Set<string>();

  async #tempFor(abs: string): Promise<string> {
    const dir = dirname(abs);
    if (!this.#dirs.has(dir)) {
      await Deno.mkdir(dir, { recursive: true });
      this.#dirs.add(dir);
    }
    return join(dir, `.tmp-${crypto.randomUUID()}`);
  }

  #writeSmall(abs: string, data: Uint8Array): void {
    const dir = dirname(abs);
    if (!this.#dirs.has(dir)) {
      Deno.mkdirSync(dir, { recursive: true });
      this.#dirs.add(dir);
    }
    const tmp = join(dir, `.tmp-${crypto.randomUUID()}`);
    try {
      Deno.writeFileSync(tmp, data, { createNew: true });
      Deno.renameSync(tmp, abs);
    } catch (err) {
      try {
        Deno.removeSync(tmp);
      } catch {
        // nothing to clean
      }
      throw err;
    }
  }

  /** Writes atomically: temp file in the same folder, then rename (sync calls up to 1 MiB). */
  override async writeBytes(path: string, data: Uint8Array): Promise<void> {
    const abs = this.#abs(path);
    if (data.byteLength <= SMALL) {
      try {
        return this.#writeSmall(abs, data);
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) this.#dirs.clear(); // folder removed under us: retry
        else throw this.#perm(err, "write");
      }
      try {
        return this.#writeSmall(abs, data);
      } catch (err) {
        throw this.#perm(err, "write");
      }
    }
    let tmp = "";
    try {
      tmp = await this.#tempFor(abs);
      const f = await Deno.open(tmp, { write: true, createNew: true });
      try {
        let off = 0;
        while (off < data.byteLength) off += await f.write(data.subarray(off, off + CHUNK));
      } finally {
        f.close();
      }
      await Deno.rename(tmp, abs);
    } catch (err) {
      if (tmp) await Deno.remove(tmp).catch(() => {});
      throw this.#perm(err, "write");
    }
  }

  /**
   * Reads the whole file (sync calls up to 1 MiB, like writes); a missing file throws with a hint
   * to re-run the producing step.
   */
  override async readBytes(path: string): Promise<Uint8Array> {
    const abs = this.#abs(path);
    try {
      if (Deno.statSync(abs).size <= SMALL) return Deno.readFileSync(abs);
      const f = await Deno.open(abs, { read: true });
      try {
        const size = (await f.stat()).size;
        const buf = new Uint8Array(size);
        let off = 0;
        while (off < size) {
          const n = await f.read(buf.subarray(off, Math.min(size, off + CHUNK)));
          if (n === null) break;
          off += n;
        }
        return off === size ? buf : buf.subarray(0, off);
      } finally {
        f.close();
      }
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) {
        throw new FlowymlError(`artifact not found: ${this.uriFor(path)}`, {
          hint: "it was deleted from the store; re-run the producing step (the cache re-runs it)",
          cause: err,
        });
      }
      throw this.#perm(err, "read");
    }
  }

  /** Streams into a temp file in the same folder, then renames it; returns bytes written. */
  override async writeStream(path: string, stream: ReadableStream<Uint8Array>): Promise<number> {
    const abs = this.#abs(path);
    let tmp = "";
    let n = 0;
    try {
      tmp = await this.#tempFor(abs);
      const f = await Deno.open(tmp, { write: true, createNew: true });
      const counting = new TransformStream<Uint8Array, Uint8Array>({
        transform(c, ctl) {
          n += c.byteLength;
          ctl.enqueue(c);
        },
      });
      await stream.pipeThrough(counting).pipeTo(f.writable);
      await Deno.rename(tmp, abs);
      return n;
    } catch (err) {
      if (tmp) await Deno.remove(tmp).catch(() => {});
      throw this.#perm(err, "write");
    }
  }

  /** The file's readable stream. */
  override async readStream(path: string): Promise<ReadableStream<Uint8Array>> {
    try {
      const f = await Deno.open(this.#abs(path), { read: true });
      return f.readable;
    } catch (err) {
      throw this.#perm(err, "read");
    }
  }

  /** True when a regular file exists at `path`. */
  override exists(path: string): Promise<boolean> {
    try {
      return Promise.resolve(Deno.statSync(this.#abs(path)).isFile);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return Promise.resolve(false);
      return Promise.reject(this.#perm(err, "read"));
    }
  }

  /** A rename within the store folder: no copy. */
  override async move(from: string, to: string): Promise<void> {
    const dst = this.#abs(to);
    try {
      await Deno.mkdir(dirname(dst), { recursive: true });
      await Deno.rename(this.#abs(from), dst);
    } catch (err) {
      throw this.#perm(err, "write");
    }
  }

  /** Files under `prefix` (temp files skipped), sorted by path. */
  override async list(prefix = ""): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    const walk = async (dir: string, rel: string) => {
      let entries: Deno.DirEntry[] = [];
      try {
        entries = await Array.fromAsync(Deno.readDir(dir));
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) return;
        throw this.#perm(err, "read");
      }
      for (const e of entries) {
        if (e.name.startsWith(".tmp-")) continue;
        const r = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory) {
          if (prefix.startsWith(r + "/") || r.startsWith(prefix) || prefix.startsWith(r)) {
            await walk(join(dir, e.name), r);
          }
        } else if (e.isFile && r.startsWith(prefix)) {
          out.push({ path: r, size: (await Deno.stat(join(dir, e.name))).size });
        }
      }
    };
    await walk(this.root, "");
    return out.sort((a, b) => a.path.localeCompare(b.path));
  }

  /** Removes the file; a missing file is not an error. */
  override async delete(path: string): Promise<void> {
    try {
      await Deno.remove(this.#abs(path));
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return;
      throw this.#perm(err, "write");
    }
  }
}
