/**
 * `GCSArtifactStore` (`type: gcs`): artifacts in Google Cloud Storage through
 * `npm:@google-cloud/storage`, same key layout as the local store.
 *
 * - Byte uploads above `resumable_threshold_mb` use a resumable upload;
 *   streamed uploads are spooled to a temp file (bounded memory) so a
 *   transient failure can be retried from the start; downloads stream and
 *   resume from the last byte after a transient failure.
 * - Objects appear only when their upload finalizes (atomic for readers).
 * - Credentials: Application Default Credentials, or a key file path given
 *   directly or by `{ env: NAME }`; never in `toDict()` or error messages.
 * @module
 */
import { normalizePrefix, objectKey } from "../_object/keys.ts";
import { Buffer } from "node:buffer";
import { Readable } from "node:stream";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { type File, Storage } from "@google-cloud/storage";
import { ArtifactStore, type StoredObject } from "../../kernel/contracts.ts";
import type { PermissionNeeds } from "../../kernel/component.ts";
import {
  ConfigError,
  describeError,
  explainPermission,
  FlowymlError,
  isPermissionError,
} from "../../kernel/errors.ts";
import { errorStatus, isTransient, RetriesExhaustedError, sleep, withRetry } from "../s3/retry.ts";
import { resolveSecret } from "../s3/secrets.ts";
import type { Schema } from "../../kernel/schema.ts";
import { type GCSStoreConfig, type GCSStoreOptions, gcsStoreSchema } from "./config.ts";

function rootCause(err: unknown): unknown {
  let e = err;
  for (let i = 0; i < 8 && e instanceof Error && e.cause instanceof Error; i++) e = e.cause;
  return e;
}

/** Artifacts in a GCS bucket. */
export class GCSArtifactStore extends ArtifactStore {
  /** The `type:` of this store in flowyml.yaml. */
  static readonly type = "gcs";
  /** Validates a `type: gcs` config before the store is built. */
  static readonly configSchema: Schema<GCSStoreConfig> = gcsStoreSchema;
  readonly #cfg: GCSStoreConfig;
  /** JSON API endpoint in use. */
  readonly endpoint: string;
  /** Whether requests go without credentials (`anonymous`; default: only for an http:// endpoint). */
  readonly anonymous: boolean;
  /** `inline_small_outputs`: small outputs of in-process and queue runs stay in the metadata store. */
  override readonly acceptsInline: boolean;
  #storage?: Promise<Storage>;

  /** Validate `options`; the client is created on first use. Throws `ConfigError` on bad options. */
  constructor(options: GCSStoreOptions) {
    const parsed = gcsStoreSchema.safeParse(options ?? {});
    if (!parsed.success) {
      throw new ConfigError(
        `gcs artifact store: invalid options: ${(parsed.error as Error).message}`,
      );
    }
    super(parsed.data.name ?? "gcs");
    this.#cfg = parsed.data;
    this.endpoint = (this.#cfg.api_endpoint ?? "https://storage.googleapis.com").replace(
      /\/+$/,
      "",
    );
    this.anonymous = this.#cfg.anonymous ?? this.endpoint.startsWith("http://");
    this.acceptsInline = this.#cfg.inline_small_outputs;
  }

  /** Bucket holding the artifacts. */
  get bucket(): string {
    return this.#cfg.bucket;
  }
  /** Object name prefix, normalized (no leading or trailing `/`; empty for none). */
  get prefix(): string {
    return normalizePrefix(this.#cfg.prefix);
  }

  /** Object name of a store path. */
  key(path: string): string {
    return objectKey(this.#cfg.prefix, path);
  }

  /** `gs://bucket/<object name>` of a store path. */
  override uriFor(path: string): string {
    return `gs://${this.bucket}/${this.key(path)}`;
  }

  /** The config without secrets: `key_file` is a path or an env var name, kept as given. */
  override toDict(): Record<string, unknown> {
    const c = this.#cfg;
    const out: Record<string, unknown> = {
      type: "gcs",
      bucket: c.bucket,
      prefix: c.prefix,
      api_endpoint: this.endpoint,
      anonymous: this.anonymous,
      create_bucket: c.create_bucket,
      resumable_threshold_mb: c.resumable_threshold_mb,
      max_retries: c.max_retries,
    };
    if (c.project_id) out.project_id = c.project_id;
    if (c.inline_small_outputs) out.inline_small_outputs = true;
    // A key file path (or the env var naming it) is a reference, not a secret.
    if (c.key_file) out.key_file = c.key_file;
    return out;
  }

  /**
   * Net access to the endpoint (plus Google's OAuth and metadata hosts unless anonymous), env
   * broadly (the auth libraries probe many variables), the spool folder, and a key file.
   */
  override permissions(): PermissionNeeds {
    const host = new URL(this.endpoint).host;
    const spool = this.#cfg.spool_dir ?? tmpdir();
    const needs: PermissionNeeds = {
      net: [host],
      // google-auth-library and gaxios probe many variables; grant env broadly for this store.
      env: [],
      read: [spool],
      write: [spool],
    };
    if (!this.anonymous) {
      needs.net!.push("oauth2.googleapis.com", "metadata.google.internal", "169.254.169.254");
      const kf = this.#cfg.key_file;
      if (typeof kf === "string") needs.read!.push(kf);
      else if (kf) needs.env!.push(kf.env);
    }
    return needs;
  }

  #where(): string {
    return `gcs artifact store "${this.name}"`;
  }

  async #make(): Promise<Storage> {
    const c = this.#cfg;
    const keyFilename = typeof c.key_file === "string"
      ? c.key_file
      : await resolveSecret(c.key_file, `${this.#where()}: key_file`);
    return new Storage({
      apiEndpoint: c.api_endpoint,
      projectId: c.project_id,
      keyFilename,
      // Retries are ours (bounded, with clear final errors).
      retryOptions: { autoRetry: false },
      ...(this.anonymous
        ? { useAuthWithCustomEndpoint: false }
        : { useAuthWithCustomEndpoint: true }),
    });
  }

  /** The storage client, created on first use (again after a failed creation). */
  #client(): Promise<Storage> {
    if (!this.#storage) {
      this.#storage = this.#make();
      this.#storage.catch(() => (this.#storage = undefined));
    }
    return this.#storage;
  }

  async #file(path: string): Promise<File> {
    return (await this.#client()).bucket(this.bucket).file(this.key(path));
  }

  /** A clear error without secrets (client errors may carry request headers: not chained). */
  explain(err: unknown, doing: string, path?: string): Error {
    const w = this.#where();
    const exhausted = err instanceof RetriesExhaustedError;
    if (err instanceof FlowymlError && !exhausted) return err;
    const root = rootCause(err);
    if (isPermissionError(root)) return explainPermission(root, `${w} ${doing}`) as Error;
    if (isPermissionError(err)) return explainPermission(err, `${w} ${doing}`) as Error;
    const inner = exhausted ? (err as Error).cause ?? root : err;
    const status = errorStatus(inner);
    const code = String(
      (inner as { code?: unknown })?.code ?? (root as { code?: unknown })?.code ?? "",
    );
    if (status === 404 && path !== undefined) {
      return new FlowymlError(`artifact not found: ${this.uriFor(path)}`, {
        hint: "it was deleted from the store; re-run the producing step (the cache re-runs it)",
      });
    }
    if (status === 401 || status === 403) {
      return new ConfigError(
        `${w}: ${this.endpoint} refused access while ${doing} (HTTP ${status})`,
        {
          hint:
            "check the credentials (key_file or Application Default Credentials) and their roles " +
            "on the bucket (storage.objects.create/get/list/delete)",
        },
      );
    }
    const msg = describeError(inner).replace(/Bearer [\w.-]+/g, "Bearer ***");
    if (
      ["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH"].includes(code) ||
      /ECONNREFUSED|Connection refused/.test(msg)
    ) {
      return new FlowymlError(`${w}: cannot reach ${this.endpoint} while ${doing}: ${msg}`, {
        hint: "check api_endpoint and that the service is running and reachable",
      });
    }
    if (exhausted) {
      return new FlowymlError(
        `${w}: ${doing} failed after ${(err as RetriesExhaustedError).attempts} attempts: ${msg}`,
      );
    }
    return new FlowymlError(`${w}: ${doing} failed: ${msg}`);
  }

  async #call<T>(
    doing: string,
    fn: () => Promise<T>,
    path?: string,
    retries = this.#cfg.max_retries,
  ): Promise<T> {
    try {
      return await withRetry(fn, {
        what: `${this.#where()} ${doing}`,
        retries,
        baseMs: this.#cfg.retry_base_ms,
        dropCause: false,
      });
    } catch (err) {
      throw this.explain(err, doing, path);
    }
  }

  /** Reach the service, check (or create) the bucket, write and delete a probe. */
  override async validate(): Promise<boolean> {
    const s = await this.#client().catch((err) => {
      throw this.explain(err, "loading credentials");
    });
    const b = s.bucket(this.bucket);
    const [exists] = await this.#call(
      `checking bucket "${this.bucket}"`,
      () => b.exists(),
      undefined,
      1,
    );
    if (!exists) {
      if (!this.#cfg.create_bucket) {
        throw new ConfigError(
          `${this.#where()}: bucket "${this.bucket}" does not exist at ${this.endpoint}`,
          {
            hint: "create it, or set create_bucket: true in the artifact_store config",
          },
        );
      }
      await this.#call("creating the bucket", () => s.createBucket(this.bucket));
    }
    const probe = b.file(this.key(`.flowyml-probe-${crypto.randomUUID()}`));
    await this.#call(
      "writing a probe object",
      () => probe.save(Buffer.from("ok"), { resumable: false }),
    );
    await this.#call("deleting the probe object", () => probe.delete({ ignoreNotFound: true }));
    return true;
  }

  async #ensureBucket(): Promise<void> {
    if (!this.#cfg.create_bucket) return;
    const s = await this.#client();
    const [exists] = await this.#call("checking the bucket", () => s.bucket(this.bucket).exists());
    if (!exists) await this.#call("creating the bucket", () => s.createBucket(this.bucket));
  }

  /** Uploads the bytes in one request, or a resumable upload above `resumable_threshold_mb`. */
  override async writeBytes(path: string, data: Uint8Array): Promise<void> {
    const f = await this.#file(path);
    const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const resumable = data.byteLength > this.#cfg.resumable_threshold_mb << 20;
    await this.#ensureBucket();
    await this.#call(
      `uploading ${this.uriFor(path)}`,
      () => f.save(buf, { resumable, validation: false, contentType: "application/octet-stream" }),
    );
  }

  /**
   * Spools the stream to a temp file in `spool_dir`, then uploads it (retried from the start on a
   * transient failure) and removes the file; returns the byte count.
   */
  override async writeStream(path: string, stream: ReadableStream<Uint8Array>): Promise<number> {
    // Spool to disk so the upload can be retried without holding the stream in memory.
    const dir = this.#cfg.spool_dir ?? tmpdir();
    let spool = "";
    let size = 0;
    try {
      spool = join(dir, `flowyml-gcs-${crypto.randomUUID()}`);
      const fh = await Deno.open(spool, { write: true, createNew: true });
      await stream.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(c, ctl) {
            size += c.byteLength;
            ctl.enqueue(c);
          },
        }),
      ).pipeTo(fh.writable);
    } catch (err) {
      if (spool) await Deno.remove(spool).catch(() => {});
      if (isPermissionError(err)) {
        throw explainPermission(err, `${this.#where()} spooling an upload in ${dir}`);
      }
      throw err;
    }
    try {
      const f = await this.#file(path);
      await this.#ensureBucket();
      const resumable = size > this.#cfg.resumable_threshold_mb << 20;
      await this.#call(`uploading ${this.uriFor(path)}`, async () => {
        const file = await Deno.open(spool, { read: true });
        const src = Readable.fromWeb(
          file.readable as unknown as import("node:stream/web").ReadableStream,
        );
        await new Promise<void>((resolve, reject) => {
          const ws = f.createWriteStream({
            resumable,
            validation: false,
            contentType: "application/octet-stream",
          });
          src.on("error", reject);
          ws.on("error", reject);
          ws.on("finish", () => resolve());
          src.pipe(ws);
        }).finally(() => src.destroy());
      });
      return size;
    } finally {
      await Deno.remove(spool).catch(() => {});
    }
  }

  /** Downloads the whole object (retried on a transient failure). */
  override async readBytes(path: string): Promise<Uint8Array> {
    const f = await this.#file(path);
    const [buf] = await this.#call(
      `reading ${this.uriFor(path)}`,
      () => f.download({ validation: false }),
      path,
    );
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /**
   * Streams the object (checking first that it exists); after a transient failure the download
   * resumes from the last byte received, up to `max_retries` times.
   */
  override async readStream(path: string): Promise<ReadableStream<Uint8Array>> {
    const f = await this.#file(path);
    // Fail early (and clearly) when the object is missing.
    if (!(await this.exists(path))) {
      throw this.explain({ code: 404 }, `reading ${this.uriFor(path)}`, path);
    }
    const open = (start: number) =>
      f.createReadStream({ validation: false, ...(start ? { start } : {}) });
    let src = open(0);
    let it = (src as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
    let offset = 0;
    let failures = 0;
    return new ReadableStream<Uint8Array>({
      pull: async (ctl) => {
        for (;;) {
          try {
            const r = await it.next();
            if (r.done) return ctl.close();
            offset += r.value.byteLength;
            ctl.enqueue(new Uint8Array(r.value.buffer, r.value.byteOffset, r.value.byteLength));
            return;
          } catch (err) {
            src.destroy();
            if (!isTransient(err) || ++failures > this.#cfg.max_retries) {
              throw this.explain(err, `reading ${this.uriFor(path)}`, path);
            }
            await sleep(this.#cfg.retry_base_ms * 2 ** (failures - 1));
            src = open(offset);
            it = (src as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
          }
        }
      },
      cancel: () => {
        src.destroy();
      },
    }, { highWaterMark: 0 });
  }

  /** Whether the object exists. */
  override async exists(path: string): Promise<boolean> {
    const f = await this.#file(path);
    const [e] = await this.#call(`checking ${this.uriFor(path)}`, () => f.exists());
    return e;
  }

  /** Objects under `prefix` with their sizes, sorted by path (probe objects left out). */
  override async list(prefix = ""): Promise<StoredObject[]> {
    const base = this.prefix ? `${this.prefix}/` : "";
    const s = await this.#client();
    const [files] = await this.#call(
      `listing ${this.uriFor(prefix)}`,
      () => s.bucket(this.bucket).getFiles({ prefix: base + prefix, autoPaginate: true }),
    );
    return files
      .map((f) => ({ path: f.name.slice(base.length), size: Number(f.metadata.size ?? 0) }))
      .filter((o) => !o.path.startsWith(".flowyml-probe-"))
      .sort((a, b) => a.path.localeCompare(b.path));
  }

  /** Deletes the object; a missing object is not an error. */
  override async delete(path: string): Promise<void> {
    const f = await this.#file(path);
    await this.#call(`deleting ${this.uriFor(path)}`, () => f.delete({ ignoreNotFound: true }));
  }

  /** Server-side copy then delete. */
  override async move(from: string, to: string): Promise<void> {
    const src = await this.#file(from);
    const dst = await this.#file(to);
    await this.#call(`copying to ${this.uriFor(to)}`, () => src.copy(dst), from);
    await this.delete(from);
  }
}
