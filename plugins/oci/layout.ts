/**
 * A local OCI image layout (the on-disk format of the OCI image spec:
 * `oci-layout`, `index.json`, `blobs/sha256/…`). `flowyml image build`
 * writes images here; the registry pushes from and pulls into it. Tools such
 * as skopeo read it as `oci:<dir>:<tag>`.
 * @module
 */
import { dirname, join } from "node:path";
import { createHash } from "node:crypto";
import { FlowymlError, isPermissionError, MissingPermissionError } from "../../kernel/errors.ts";

/** An OCI content descriptor. */
export interface Descriptor {
  /** Media type of the content (a manifest, an index, a config or a layer). */
  mediaType: string;
  /** `sha256:<hex>` of the content. */
  digest: string;
  /** Size of the content in bytes. */
  size: number;
  /** Arbitrary metadata; in `index.json`, `org.opencontainers.image.ref.name` holds the tag. */
  annotations?: Record<string, string>;
  /** In an index: the platform the manifest is for. */
  platform?: { os: string; architecture: string; variant?: string };
}

const REF = "org.opencontainers.image.ref.name";

/** One OCI image layout folder. */
export class OciLayout {
  /** The layout's folder. */
  readonly root: string;
  /** The layout in folder `root`; nothing is read or created until used (see {@linkcode init}). */
  constructor(root: string) {
    this.root = root;
  }

  #perm(err: unknown, access: "read" | "write"): unknown {
    if (!isPermissionError(err)) return err;
    return new MissingPermissionError(
      `image layout ${this.root}: ${access}`,
      `--allow-${access}=${this.root}`,
      err,
    );
  }

  /** Create the layout skeleton if missing. */
  async init(): Promise<void> {
    try {
      await Deno.mkdir(join(this.root, "blobs", "sha256"), { recursive: true });
      const marker = join(this.root, "oci-layout");
      try {
        await Deno.stat(marker);
      } catch {
        await Deno.writeTextFile(marker, JSON.stringify({ imageLayoutVersion: "1.0.0" }));
      }
      try {
        await Deno.stat(join(this.root, "index.json"));
      } catch {
        await this.#writeIndex({
          schemaVersion: 2,
          mediaType: "application/vnd.oci.image.index.v1+json",
          manifests: [],
        });
      }
    } catch (err) {
      throw this.#perm(err, "write");
    }
  }

  /** File path of a blob. */
  blobPath(digest: string): string {
    const [alg, hex] = digest.split(":");
    if (alg !== "sha256" || !/^[a-f0-9]{64}$/.test(hex ?? "")) {
      throw new FlowymlError(`unsupported digest ${digest}`);
    }
    return join(this.root, "blobs", alg, hex);
  }

  /** True when the blob is present. */
  async hasBlob(digest: string): Promise<boolean> {
    try {
      return (await Deno.stat(this.blobPath(digest))).isFile;
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return false;
      throw this.#perm(err, "read");
    }
  }

  /** Store bytes; returns their descriptor fields. */
  async writeBlob(bytes: Uint8Array): Promise<{ digest: string; size: number }> {
    const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
    const p = this.blobPath(digest);
    if (!(await this.hasBlob(digest))) {
      const tmp = `${p}.tmp-${crypto.randomUUID()}`;
      try {
        await Deno.writeFile(tmp, bytes);
        await Deno.rename(tmp, p);
      } catch (err) {
        await Deno.remove(tmp).catch(() => {});
        throw this.#perm(err, "write");
      }
    }
    return { digest, size: bytes.byteLength };
  }

  /** Store a stream (hashed while written); optionally check its expected digest. */
  async writeBlobStream(
    stream: ReadableStream<Uint8Array>,
    expect?: string,
  ): Promise<{ digest: string; size: number }> {
    const tmp = join(this.root, "blobs", "sha256", `.tmp-${crypto.randomUUID()}`);
    const h = createHash("sha256");
    let size = 0;
    try {
      const f = await Deno.open(tmp, { write: true, createNew: true });
      await stream.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(c, ctl) {
            h.update(c);
            size += c.byteLength;
            ctl.enqueue(c);
          },
        }),
      ).pipeTo(f.writable);
      const digest = `sha256:${h.digest("hex")}`;
      if (expect && digest !== expect) {
        throw new FlowymlError(`blob digest mismatch: expected ${expect}, got ${digest}`);
      }
      await Deno.rename(tmp, this.blobPath(digest));
      return { digest, size };
    } catch (err) {
      await Deno.remove(tmp).catch(() => {});
      throw this.#perm(err, "write");
    }
  }

  /** Read `length` bytes of a blob from `offset`. */
  async readChunk(digest: string, offset: number, length: number): Promise<Uint8Array> {
    const f = await Deno.open(this.blobPath(digest), { read: true }).catch((e) => {
      throw this.#perm(e, "read");
    });
    try {
      await f.seek(offset, Deno.SeekMode.Start);
      const buf = new Uint8Array(length);
      let n = 0;
      while (n < length) {
        const r = await f.read(buf.subarray(n));
        if (r === null) break;
        n += r;
      }
      return n === length ? buf : buf.subarray(0, n);
    } finally {
      f.close();
    }
  }

  /** A blob's bytes. */
  async readBlob(digest: string): Promise<Uint8Array> {
    try {
      return await Deno.readFile(this.blobPath(digest));
    } catch (err) {
      throw this.#perm(err, "read");
    }
  }

  async #readIndex(): Promise<
    { schemaVersion: number; mediaType?: string; manifests: Descriptor[] }
  > {
    try {
      return JSON.parse(await Deno.readTextFile(join(this.root, "index.json")));
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return { schemaVersion: 2, manifests: [] };
      throw this.#perm(err, "read");
    }
  }

  async #writeIndex(index: unknown): Promise<void> {
    const p = join(this.root, "index.json");
    await Deno.mkdir(dirname(p), { recursive: true });
    const tmp = `${p}.tmp-${crypto.randomUUID()}`;
    await Deno.writeTextFile(tmp, JSON.stringify(index, null, 2));
    await Deno.rename(tmp, p);
  }

  /** Point `tag` at a manifest descriptor. */
  async setRef(tag: string, desc: Descriptor): Promise<void> {
    const index = await this.#readIndex();
    index.manifests = index.manifests.filter((m) => m.annotations?.[REF] !== tag);
    index.manifests.push({ ...desc, annotations: { ...(desc.annotations ?? {}), [REF]: tag } });
    try {
      await this.#writeIndex(index);
    } catch (err) {
      throw this.#perm(err, "write");
    }
  }

  /** The manifest descriptor of `tag`, if any. */
  async getRef(tag: string): Promise<Descriptor | undefined> {
    return (await this.#readIndex()).manifests.find((m) => m.annotations?.[REF] === tag);
  }
}
