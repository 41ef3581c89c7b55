/**
 * One image layer from a list of tar entries: tarred, gzip-compressed and
 * streamed into an OCI layout as a blob, with the uncompressed digest (the
 * config's `diff_id`) hashed on the way. Used by `image build` and `image base`.
 * @module
 */
import { createHash } from "node:crypto";
import { MEDIA } from "./client.ts";
import type { Descriptor, OciLayout } from "./layout.ts";
import { type TarEntry, tarStream } from "./tar.ts";

/** A layer written to a layout: its descriptor and its `diff_id`. */
export interface WrittenLayer {
  /** The compressed blob, as the manifest lists it. */
  layer: Descriptor;
  /** `sha256:…` of the uncompressed tar, as the image config lists it. */
  diffId: string;
}

/** Tar `entries`, gzip them into a blob of `layout`, and return the layer's descriptor. */
export async function writeGzipLayer(
  layout: OciLayout,
  entries: TarEntry[],
): Promise<WrittenLayer> {
  const diff = createHash("sha256");
  const tar = tarStream(entries).pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(c, ctl) {
        diff.update(c);
        ctl.enqueue(c);
      },
    }),
  );
  const gz = tar.pipeThrough(
    new CompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>,
  );
  const blob = await layout.writeBlobStream(gz);
  return {
    layer: { mediaType: MEDIA.ociLayerGzip, digest: blob.digest, size: blob.size },
    diffId: `sha256:${diff.digest("hex")}`,
  };
}
