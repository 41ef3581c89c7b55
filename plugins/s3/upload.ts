/**
 * Uploads of the S3-compatible artifact stores: a value up to two parts goes
 * out as one PUT, a larger one or a stream as a multipart upload of
 * `part_size_mb` parts, `upload_concurrency` of them in flight. A stream is
 * read into a bounded pool of part buffers (at most `upload_concurrency + 1`
 * parts in memory). An object becomes visible only when its PUT or its
 * multipart upload completes; a failed multipart upload is aborted.
 * @module
 */
import { Buffer } from "node:buffer";
import type * as Minio from "minio";

/** What an upload needs of its store. */
export interface UploadTarget {
  readonly bucket: string;
  /** Part size in bytes. */
  readonly partSize: number;
  /** Parts uploaded at once. */
  readonly concurrency: number;
  /** Object key of a store path. */
  key(path: string): string;
  /** URI of a store path (for messages). */
  uriFor(path: string): string;
  /** The store's client. */
  client(): Promise<Minio.Client>;
  /** Run one request with retries, mapping failures to clear errors. */
  call<T>(doing: string, fn: (c: Minio.Client) => Promise<T>, path?: string): Promise<T>;
  /** Make sure the bucket exists (with `create_bucket: true`), errors explained. */
  prepare(): Promise<void>;
}

/** One PUT of a whole object. */
export async function putBuffer(
  c: Minio.Client,
  bucket: string,
  key: string,
  buf: Buffer,
): Promise<void> {
  const res = await c.makeRequestAsync(
    { method: "PUT", bucketName: bucket, objectName: key, headers: {} },
    buf,
    [200],
  );
  await Array.fromAsync(res as AsyncIterable<unknown>); // drain the (empty) answer
}

/** Upload `data` at `path`: one PUT up to two parts, else a multipart upload. */
export async function uploadBytes(t: UploadTarget, path: string, data: Uint8Array): Promise<void> {
  const key = t.key(path);
  const partSize = t.partSize;
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  await t.prepare();
  if (data.byteLength <= partSize * 2) {
    await t.call(`uploading ${t.uriFor(path)}`, (c) => putBuffer(c, t.bucket, key, buf));
    return;
  }
  const parts = (async function* () {
    for (let off = 0; off < buf.byteLength; off += partSize) {
      yield buf.subarray(off, Math.min(buf.byteLength, off + partSize));
    }
  })();
  await uploadMultipart(t, path, parts);
}

/**
 * Upload a stream at `path`: one PUT when it fits in one part, else a
 * multipart upload. Resolves to the number of bytes uploaded.
 */
export async function uploadStream(
  t: UploadTarget,
  path: string,
  stream: ReadableStream<Uint8Array>,
): Promise<number> {
  const reader = stream.getReader();
  const parts = new PartReader(reader, t.partSize, t.concurrency);
  try {
    await t.prepare();
    const first = await parts.next();
    if (parts.exhausted) {
      const key = t.key(path);
      const body = first ?? Buffer.alloc(0);
      await t.call(`uploading ${t.uriFor(path)}`, (c) => putBuffer(c, t.bucket, key, body));
      return parts.total;
    }
    const all = (async function* () {
      yield first!;
      for (let b = await parts.next(); b; b = await parts.next()) yield b;
    })();
    await uploadMultipart(t, path, all, parts.release);
    return parts.total;
  } catch (err) {
    await reader.cancel(err).catch(() => {});
    throw err;
  } finally {
    reader.releaseLock();
  }
}

/**
 * Reads a stream into part-sized buffers taken from a pool that bounds memory
 * to (concurrency + 1) parts; an uploaded part's buffer is given back with
 * {@linkcode PartReader.release}.
 */
class PartReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #partSize: number;
  readonly #concurrency: number;
  readonly #pool: Buffer[] = [];
  readonly #waiters: ((b: Buffer) => void)[] = [];
  #allocated = 0;
  #pending: Uint8Array | undefined;
  #done = false;
  /** Bytes read so far. */
  total = 0;

  constructor(
    reader: ReadableStreamDefaultReader<Uint8Array>,
    partSize: number,
    concurrency: number,
  ) {
    this.#reader = reader;
    this.#partSize = partSize;
    this.#concurrency = concurrency;
  }

  /** Whether the stream is read to its end and every byte handed out. */
  get exhausted(): boolean {
    return this.#done && !this.#pending;
  }

  async #take(): Promise<Buffer> {
    const b = this.#pool.pop();
    if (b) return b;
    if (this.#allocated <= this.#concurrency) {
      this.#allocated++;
      return Buffer.allocUnsafe(this.#partSize);
    }
    return await new Promise<Buffer>((r) => this.#waiters.push(r));
  }

  /** Give a part's buffer back to the pool (or to a reader waiting for one). */
  release = (part: Buffer): void => {
    const whole = Buffer.from(part.buffer, part.byteOffset, this.#partSize);
    const w = this.#waiters.shift();
    if (w) w(whole);
    else this.#pool.push(whole);
  };

  /** The next part (full unless it is the last), or `undefined` at the end. */
  async next(): Promise<Buffer | undefined> {
    if (this.exhausted) return undefined;
    const partSize = this.#partSize;
    const buf = await this.#take();
    let n = 0;
    while (n < partSize) {
      if (!this.#pending) {
        const r = await this.#reader.read();
        if (r.done) {
          this.#done = true;
          break;
        }
        this.#pending = r.value;
      }
      const pending: Uint8Array = this.#pending;
      const take = Math.min(partSize - n, pending.byteLength);
      buf.set(pending.subarray(0, take), n);
      n += take;
      this.#pending = take === pending.byteLength ? undefined : pending.subarray(take);
    }
    this.total += n;
    if (n === 0) {
      this.release(buf);
      return undefined;
    }
    return buf.subarray(0, n);
  }
}

/** Upload parts (each at most the part size) as one multipart upload; aborted on failure. */
export async function uploadMultipart(
  t: UploadTarget,
  path: string,
  parts: AsyncIterable<Buffer>,
  release?: (b: Buffer) => void,
): Promise<void> {
  const key = t.key(path);
  const uri = t.uriFor(path);
  const uploadId = await t.call(
    `starting the upload of ${uri}`,
    (c) => c.initiateNewMultipartUpload(t.bucket, key, {}),
  );
  const etags: { part: number; etag: string }[] = [];
  const inflight = new Set<Promise<void>>();
  let failed: unknown;
  let n = 0;
  try {
    for await (const part of parts) {
      const partNumber = ++n;
      const p = t.call(`uploading part ${partNumber} of ${uri}`, async (c) => {
        const r = await c.uploadPart(
          { bucketName: t.bucket, objectName: key, uploadID: uploadId, partNumber, headers: {} },
          part,
        );
        etags.push({ part: partNumber, etag: r.etag });
      }).catch((err) => {
        failed ??= err;
      }).finally(() => {
        inflight.delete(p);
        release?.(part);
      });
      inflight.add(p);
      if (inflight.size >= t.concurrency) await Promise.race(inflight);
      if (failed) throw failed;
    }
    await Promise.all(inflight);
    if (failed) throw failed;
    etags.sort((a, b) => a.part - b.part);
    await t.call(
      `completing the upload of ${uri}`,
      (c) => c.completeMultipartUpload(t.bucket, key, uploadId, etags),
    );
  } catch (err) {
    await Promise.allSettled(inflight);
    const c = await t.client();
    await c.abortMultipartUpload(t.bucket, key, uploadId).catch(() => {});
    throw err;
  }
}
