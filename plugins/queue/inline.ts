/**
 * Small step outputs through the queue, stored inline in the driver's
 * metadata store (kernel/artifacts.ts `putValue` with `inline`) instead of
 * as one artifact file each:
 *
 * - the driver asks for it per job (`StepJobData.inlineMax`) and sends the
 *   bytes of the task's inline inputs with the job ({@linkcode inputBlobs});
 * - the worker runs the step against {@linkcode jobBlobs}: inline inputs come
 *   from the job (verified against their hash by `loadValue`, like any read),
 *   outputs up to `inlineMax` bytes are collected for the job's result;
 * - the driver checks each returned output's bytes against its hash and
 *   stages them in its metadata store ({@linkcode stageOutputBlobs}), which
 *   commits them in the same transaction as the step's record: there is no
 *   record without its bytes, and a worker killed before returning its
 *   result leaves nothing behind (the step runs again).
 *
 * Workers never open the metadata store for this, so they need not share it.
 * @module
 */
import { Buffer } from "node:buffer";
import { ArtifactIntegrityError, type BlobStore } from "../../kernel/artifacts.ts";
import { FlowymlError } from "../../kernel/errors.ts";
import { sha256Hex } from "../../kernel/hash.ts";
import type { ArtifactRef } from "../../kernel/records.ts";
import type { StepJobData } from "./config.ts";

/** A job's blob store on a worker; `out` holds the inline outputs (base64, by hash). */
export interface JobBlobs extends BlobStore {
  /** Bytes of the outputs stored inline, base64 by sha256: the job result's `blobs`. */
  readonly out: Record<string, string>;
}

function encode(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

function decode(b64: string): Uint8Array {
  const b = Buffer.from(b64, "base64");
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** The blob store a worker runs job `d` with: inputs from the job, outputs kept for the result. */
export function jobBlobs(d: StepJobData): JobBlobs {
  const out: Record<string, string> = {};
  return {
    inlineMaxBytes: d.inlineMax ?? 0,
    out,
    putBlob(hash: string, bytes: Uint8Array): void {
      out[hash] = encode(bytes);
    },
    getBlob(hash: string): Promise<Uint8Array | undefined> {
      const b64 = d.blobs?.[hash] ?? out[hash];
      return Promise.resolve(b64 === undefined ? undefined : decode(b64));
    },
    // One prefix for every job: kernel/artifacts.ts remembers blob stores by it.
    blobUri: (hash: string) => `flowyml-job:blobs/${hash}`,
  };
}

/** Bytes (base64, by hash) of the inline refs among `inputs`, from the driver's metadata store. */
export async function inputBlobs(
  inputs: Record<string, ArtifactRef>,
  meta: BlobStore,
): Promise<Record<string, string> | undefined> {
  let out: Record<string, string> | undefined;
  for (const r of Object.values(inputs)) {
    if (!r.inline) continue;
    const bytes = await meta.getBlob(r.hash);
    // A missing one is left out: the worker's verified read fails naming it.
    if (bytes) (out ??= {})[r.hash] = encode(bytes);
  }
  return out;
}

/** Whether a job result carries the bytes of every inline output in `refs`. */
export function hasOutputBlobs(
  refs: Record<string, ArtifactRef>,
  blobs: Record<string, string> | undefined,
): boolean {
  return Object.values(refs).every((r) => !r.inline || blobs?.[r.hash] !== undefined);
}

/**
 * Stage the inline outputs of step `step`'s job result in the driver's metadata store (committed
 * with the step's record). Bytes that do not hash to their reference's hash throw
 * {@linkcode ArtifactIntegrityError}; an inline output without bytes throws too.
 */
export function stageOutputBlobs(
  refs: Record<string, ArtifactRef>,
  blobs: Record<string, string> | undefined,
  options: { meta: BlobStore; step: string },
): void {
  for (const [name, r] of Object.entries(refs)) {
    if (!r.inline) continue;
    const label = `step "${options.step}" output "${name}"`;
    const b64 = blobs?.[r.hash];
    if (b64 === undefined) {
      throw new FlowymlError(
        `${label} is stored inline, but the worker's result carries no bytes for it`,
        { hint: "run the same flowyml version on the driver and the workers" },
      );
    }
    const bytes = decode(b64);
    const actual = sha256Hex(bytes);
    if (actual !== r.hash) {
      throw new ArtifactIntegrityError({ uri: r.uri, expected: r.hash, actual, label });
    }
    options.meta.putBlob(r.hash, bytes);
  }
}
