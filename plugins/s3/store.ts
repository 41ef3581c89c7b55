/**
 * `S3ArtifactStore` (`type: s3`) and `MinIOArtifactStore` (`type: minio`):
 * artifacts in any S3-compatible object store, through `npm:minio`.
 *
 * - Same key layout as the local store (`objects/<aa>/<sha256>` under an
 *   optional `prefix`), so caching and lineage work unchanged.
 * - Large values stream both ways: uploads go out as multipart parts of
 *   `part_size_mb` (at most `upload_concurrency + 1` parts in memory);
 *   downloads are streamed and resume with a range request after a
 *   transient failure.
 * - Every request is retried on transient failures with bounded backoff.
 * - An object becomes visible only when its single PUT or its multipart
 *   upload completes, so readers never see a partial artifact.
 * - Secrets never appear in `toDict()` or error messages.
 *
 * Uploads (single PUT, multipart, streaming) are in `upload.ts`, the mapping
 * of client errors to clear errors in `errors.ts`.
 * @module
 */
import { normalizePrefix, objectKey } from "../_object/keys.ts";
import { Buffer } from "node:buffer";
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import * as Minio from "minio";
import { ArtifactStore, type StoredObject } from "../../kernel/contracts.ts";
import type { PermissionNeeds } from "../../kernel/component.ts";
import type { Schema } from "../../kernel/schema.ts";
import { ConfigError, describeError } from "../../kernel/errors.ts";
import {
  type MinIOStoreOptions,
  minioStoreSchema,
  type ParsedEndpoint,
  parseEndpoint,
  type S3StoreConfig,
  type S3StoreOptions,
  s3StoreSchema,
} from "./config.ts";
import { codeOf, explainS3Error, isNotFound } from "./errors.ts";
import { isTransient, sleep, withRetry } from "./retry.ts";
import {
  optionalEnv,
  redact,
  resolveSecret,
  secretPermissions,
  secretRef,
  type SecretValue,
} from "./secrets.ts";
import { putBuffer, uploadBytes, uploadStream, type UploadTarget } from "./upload.ts";

/** Artifacts in an S3-compatible bucket (`type: s3`; AWS by default). */
export class S3ArtifactStore extends ArtifactStore {
  /** The `type:` of this store in flowyml.yaml (`minio` for {@linkcode MinIOArtifactStore}). */
  static readonly type: string = "s3";
  /** Validates a `type: s3` config before the store is built. */
  static readonly configSchema: Schema<S3StoreConfig> = s3StoreSchema;
  /** Parsed config (may hold literal secrets: never expose it). */
  readonly #cfg: S3StoreConfig;
  /** Where the endpoint points. */
  readonly #server: ParsedEndpoint;
  /** `inline_small_outputs`: small outputs of in-process and queue runs stay in the metadata store. */
  override readonly acceptsInline: boolean;
  #client?: Promise<Minio.Client>;
  #secrets: string[] = [];
  #bucketReady?: Promise<void>;

  /**
   * Validate `options` with the class's schema; the client is created (and credentials resolved)
   * on first use. Throws `ConfigError` on bad options.
   */
  constructor(options: S3StoreOptions) {
    const cls = new.target as unknown as typeof S3ArtifactStore;
    const parsed = cls.configSchema.safeParse(options ?? {});
    if (!parsed.success) {
      throw new ConfigError(
        `${cls.type} artifact store: invalid options: ${(parsed.error as Error).message}`,
      );
    }
    super(parsed.data.name ?? cls.type);
    this.#cfg = parsed.data as S3StoreConfig;
    this.#server = parseEndpoint(this.#cfg.endpoint, this.#cfg.secure, cls.type !== "minio");
    this.acceptsInline = this.#cfg.inline_small_outputs;
  }

  /** The registry type of this instance (`s3` or `minio`). */
  get type(): string {
    return (this.constructor as typeof S3ArtifactStore).type;
  }
  /** Bucket name. */
  get bucket(): string {
    return this.#cfg.bucket;
  }
  /** Key prefix (no trailing slash). */
  get prefix(): string {
    return normalizePrefix(this.#cfg.prefix);
  }

  /** Object key of a store path. */
  key(path: string): string {
    return objectKey(this.#cfg.prefix, path);
  }

  /** `s3://bucket/<key>` of a store path. */
  override uriFor(path: string): string {
    return `s3://${this.bucket}/${this.key(path)}`;
  }

  /**
   * The config without secrets: `access_key`, `secret_key` and `session_token` appear only as
   * `{ env }` / `{ file }` references, never as values.
   */
  override toDict(): Record<string, unknown> {
    const c = this.#cfg;
    const out: Record<string, unknown> = {
      type: this.type,
      endpoint: c.endpoint,
      bucket: c.bucket,
      prefix: c.prefix,
      region: c.region,
      path_style: c.path_style,
      secure: this.#server.secure,
      create_bucket: c.create_bucket,
      part_size_mb: c.part_size_mb,
      upload_concurrency: c.upload_concurrency,
      max_retries: c.max_retries,
      ...(c.inline_small_outputs ? { inline_small_outputs: true } : {}),
    };
    for (const k of ["access_key", "secret_key", "session_token"] as const) {
      const ref = secretRef(c[k] as SecretValue | undefined);
      if (ref) out[k] = ref;
    }
    return out;
  }

  /**
   * Net access to the endpoint; env for each secret left to its `AWS_*` default, or what a
   * `{ env }` / `{ file }` secret reads; and `READABLE_STREAM`, which the minio SDK reads on load.
   */
  override permissions(): PermissionNeeds {
    const needs: PermissionNeeds = { net: [`${this.#server.host}:${this.#server.port}`], env: [] };
    const defaults = {
      access_key: "AWS_ACCESS_KEY_ID",
      secret_key: "AWS_SECRET_ACCESS_KEY",
      session_token: "AWS_SESSION_TOKEN",
    };
    for (const [k, env] of Object.entries(defaults) as [keyof typeof defaults, string][]) {
      const v = this.#cfg[k] as SecretValue | undefined;
      if (v === undefined) needs.env!.push(env);
      else secretPermissions(v, needs);
    }
    // minio's readable-stream dependency reads this when it loads.
    needs.env!.push("READABLE_STREAM");
    return needs;
  }

  #where(): string {
    return `${this.type} artifact store "${this.name}"`;
  }

  async #makeClient(): Promise<Minio.Client> {
    const c = this.#cfg;
    const w = this.#where();
    const accessKey = await resolveSecret(c.access_key, `${w}: access_key`) ??
      optionalEnv("AWS_ACCESS_KEY_ID");
    const secretKey = await resolveSecret(c.secret_key, `${w}: secret_key`) ??
      optionalEnv("AWS_SECRET_ACCESS_KEY");
    const sessionToken = await resolveSecret(c.session_token, `${w}: session_token`) ??
      optionalEnv("AWS_SESSION_TOKEN");
    this.#secrets = [secretKey, sessionToken, accessKey].filter((s): s is string => !!s);
    const agentOptions = { keepAlive: true, maxSockets: 32 };
    return new Minio.Client({
      endPoint: this.#server.host,
      port: this.#server.port,
      useSSL: this.#server.secure,
      accessKey: accessKey ?? "",
      secretKey: secretKey ?? "",
      sessionToken,
      region: c.region,
      pathStyle: c.path_style,
      transportAgent: this.#server.secure
        ? new HttpsAgent(agentOptions)
        : new HttpAgent(agentOptions),
      // Retries are ours: minio's cannot resend a stream and leak the failed body.
      retryOptions: { disableRetry: true },
    });
  }

  /** The minio client, created on first use (credentials resolved then), again after a failure. */
  #minio(): Promise<Minio.Client> {
    if (!this.#client) {
      this.#client = this.#makeClient();
      this.#client.catch(() => (this.#client = undefined));
    }
    return this.#client;
  }

  /** Turn a client error into a clear error without secrets. */
  explain(err: unknown, doing: string, path?: string): Error {
    const ctx = {
      where: this.#where(),
      server: this.#server,
      bucket: this.bucket,
      uriFor: (p: string) => this.uriFor(p),
      secrets: this.#secrets,
    };
    return explainS3Error(ctx, err, doing, path);
  }

  #retry<T>(fn: () => Promise<T>, doing: string, retries = this.#cfg.max_retries): Promise<T> {
    return withRetry(fn, {
      what: `${this.#where()} ${doing}`,
      retries,
      baseMs: this.#cfg.retry_base_ms,
      describe: (e) => redact(describeError(e), this.#secrets),
    });
  }

  /** Run one request with retries, mapping failures to clear errors. */
  async #call<T>(doing: string, fn: (c: Minio.Client) => Promise<T>, path?: string): Promise<T> {
    try {
      const c = await this.#minio();
      return await this.#retry(() => fn(c), doing);
    } catch (err) {
      throw this.explain(err, doing, path);
    }
  }

  async #ensureBucket(): Promise<void> {
    if (!this.#cfg.create_bucket) return;
    this.#bucketReady ??= (async () => {
      const c = await this.#minio();
      if (!(await this.#retry(() => c.bucketExists(this.bucket), "checking the bucket"))) {
        await this.#createBucket(c);
      }
    })();
    this.#bucketReady.catch(() => (this.#bucketReady = undefined));
    await this.#bucketReady;
  }

  /**
   * Create the bucket, idempotently: several workers starting at once on a fresh bucket race to
   * create it, and the losers' `BucketAlreadyOwnedByYou` (or `BucketAlreadyExists` for a bucket
   * that is there and reachable now) means it exists, which is all they wanted.
   */
  async #createBucket(c: Minio.Client): Promise<void> {
    try {
      await c.makeBucket(this.bucket, this.#cfg.region);
    } catch (err) {
      const code = codeOf(err);
      if (code === "BucketAlreadyOwnedByYou") return;
      if (code === "BucketAlreadyExists" && await c.bucketExists(this.bucket).catch(() => false)) {
        return;
      }
      throw err;
    }
  }

  /**
   * Reach the service: resolve credentials, check the bucket exists (create
   * it with `create_bucket: true`), then write and delete a probe object.
   */
  override async validate(): Promise<boolean> {
    let c: Minio.Client;
    try {
      c = await this.#minio();
    } catch (err) {
      throw this.explain(err, "resolving credentials");
    }
    let exists: boolean;
    try {
      exists = await this.#retry(() => c.bucketExists(this.bucket), "checking the bucket", 1);
    } catch (err) {
      throw this.explain(err, `checking bucket "${this.bucket}"`);
    }
    if (!exists) {
      if (!this.#cfg.create_bucket) throw this.explain({ code: "NoSuchBucket" }, "validating");
      await this.#call("creating the bucket", (c) => this.#createBucket(c));
    }
    const probe = this.key(`.flowyml-probe-${crypto.randomUUID()}`);
    await this.#call(
      "writing a probe object",
      (c) => putBuffer(c, this.bucket, probe, Buffer.from("ok")),
    );
    await this.#call("deleting the probe object", (c) => c.removeObject(this.bucket, probe));
    return true;
  }

  /** What the upload functions (upload.ts) need of this store. */
  #uploadTarget(): UploadTarget {
    return {
      bucket: this.bucket,
      partSize: this.#cfg.part_size_mb << 20,
      concurrency: this.#cfg.upload_concurrency,
      key: (path) => this.key(path),
      uriFor: (path) => this.uriFor(path),
      client: () => this.#minio(),
      call: (doing, fn, path) => this.#call(doing, fn, path),
      prepare: () => this.#call("preparing the bucket", () => this.#ensureBucket()),
    };
  }

  /** One PUT up to twice `part_size_mb`, else a multipart upload of `part_size_mb` parts. */
  override async writeBytes(path: string, data: Uint8Array): Promise<void> {
    await uploadBytes(this.#uploadTarget(), path, data);
  }

  /**
   * One PUT when the stream fits in one part, else a multipart upload of `part_size_mb` parts,
   * `upload_concurrency` at once (memory: about `upload_concurrency` + 1 parts); returns the byte
   * count.
   */
  override async writeStream(path: string, stream: ReadableStream<Uint8Array>): Promise<number> {
    return await uploadStream(this.#uploadTarget(), path, stream);
  }

  /**
   * GET an object (from `offset`) with Deno's native fetch on a presigned
   * URL: it streams with real backpressure (node:http in Deno buffers whole
   * bodies ahead of the reader) and is faster.
   */
  async #get(key: string, offset: number, path: string): Promise<Response> {
    return await this.#call(`reading ${this.uriFor(path)}`, async (c) => {
      const url = await c.presignedGetObject(this.bucket, key, 3600);
      const res = await fetch(url, { headers: offset > 0 ? { range: `bytes=${offset}-` } : {} });
      if (res.status === 200 || res.status === 206) return res;
      const text = await res.text();
      const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1] ??
        (res.status === 404 ? "NoSuchKey" : res.status === 403 ? "AccessDenied" : "");
      const message = /<Message>([^<]+)<\/Message>/.exec(text)?.[1] ?? `HTTP ${res.status}`;
      throw Object.assign(new Error(message), { code, status: res.status });
    }, path);
  }

  /** GETs the whole object through a presigned URL; a transient failure retries the GET. */
  override async readBytes(path: string): Promise<Uint8Array> {
    const key = this.key(path);
    for (let attempt = 0;; attempt++) {
      const res = await this.#get(key, 0, path);
      try {
        return new Uint8Array(await res.arrayBuffer());
      } catch (err) {
        if (!isTransient(err) || attempt >= this.#cfg.max_retries) {
          throw this.explain(err, `reading ${this.uriFor(path)}`, path);
        }
        await sleep(this.#cfg.retry_base_ms * 2 ** attempt);
      }
    }
  }

  /**
   * Streams the object through a presigned URL (a missing object fails here, not on the first
   * read); after a transient failure it resumes from the last byte received with a range request,
   * up to `max_retries` times.
   */
  override async readStream(path: string): Promise<ReadableStream<Uint8Array>> {
    const key = this.key(path);
    let reader = (await this.#get(key, 0, path)).body!.getReader();
    let offset = 0;
    let failures = 0;
    return new ReadableStream<Uint8Array>({
      pull: async (ctl) => {
        for (;;) {
          try {
            const r = await reader.read();
            if (r.done) {
              ctl.close();
              return;
            }
            offset += r.value.byteLength;
            ctl.enqueue(r.value);
            return;
          } catch (err) {
            reader.cancel().catch(() => {});
            if (!isTransient(err) || ++failures > this.#cfg.max_retries) {
              throw this.explain(err, `reading ${this.uriFor(path)}`, path);
            }
            await sleep(this.#cfg.retry_base_ms * 2 ** (failures - 1));
            // Resume where the stream broke.
            reader = (await this.#get(key, offset, path)).body!.getReader();
          }
        }
      },
      cancel: async () => {
        await reader.cancel().catch(() => {});
      },
    }, { highWaterMark: 0 });
  }

  /** Whether the object exists (a HEAD request). */
  override async exists(path: string): Promise<boolean> {
    const key = this.key(path);
    try {
      const c = await this.#minio();
      await this.#retry(() => c.statObject(this.bucket, key), `checking ${this.uriFor(path)}`);
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw this.explain(err, `checking ${this.uriFor(path)}`);
    }
  }

  /** Objects under `prefix` with their sizes, sorted by path (probe objects left out). */
  override async list(prefix = ""): Promise<StoredObject[]> {
    const base = this.prefix ? `${this.prefix}/` : "";
    return await this.#call(`listing ${this.uriFor(prefix)}`, async (c) => {
      const out: StoredObject[] = [];
      const s = c.listObjectsV2(this.bucket, base + prefix, true);
      for await (const o of s as AsyncIterable<{ name?: string; size: number }>) {
        if (!o.name) continue;
        const path = o.name.slice(base.length);
        if (path.startsWith(".flowyml-probe-")) continue;
        out.push({ path, size: o.size });
      }
      return out.sort((a, b) => a.path.localeCompare(b.path));
    });
  }

  /** Deletes the object; a missing object is not an error. */
  override async delete(path: string): Promise<void> {
    const key = this.key(path);
    await this.#call(`deleting ${this.uriFor(path)}`, (c) => c.removeObject(this.bucket, key));
  }

  /** Server-side copy then delete (publishing content-addressed uploads). */
  override async move(from: string, to: string): Promise<void> {
    const src = this.key(from);
    const dst = this.key(to);
    await this.#call(`copying to ${this.uriFor(to)}`, async (c) => {
      await c.copyObject(
        new Minio.CopySourceOptions({ Bucket: this.bucket, Object: src }),
        new Minio.CopyDestinationOptions({ Bucket: this.bucket, Object: dst }),
      );
    }, from);
    await this.delete(from);
  }

  /** Destroys the client's keep-alive agent, closing its idle sockets. */
  override close(): void {
    this.#client?.then((c) => {
      const agent = (c as unknown as { transportAgent?: HttpAgent }).transportAgent;
      agent?.destroy();
    }).catch(() => {});
  }
}

/** Artifacts on a MinIO server (or any S3-compatible one; path-style by default). */
export class MinIOArtifactStore extends S3ArtifactStore {
  /** The `type:` of this store in flowyml.yaml. */
  static override readonly type: string = "minio";
  /** Validates a `type: minio` config: `endpoint` required, path-style by default. */
  static override readonly configSchema: Schema<S3StoreConfig> = minioStoreSchema;
  /** Validate `options` (`endpoint` required); throws `ConfigError` on bad options. */
  constructor(options: MinIOStoreOptions) {
    super(options);
  }
}
