/**
 * Job results between queue workers and drivers (plugins/queue/config.ts):
 * compact references round-trip to the same full references, an inline
 * output's bytes travel in its reference for a payload-v2 driver, and a v1
 * result (bytes in `blobs`) still reads.
 * @module
 */
import assert from "node:assert/strict";
import {
  compactRefs,
  expandRefs,
  refBlobs,
  type RefUris,
  type StepJobResult,
} from "../../plugins/queue/config.ts";
import { blobPath, objectPath } from "../../kernel/artifacts.ts";
import type { ArtifactRef } from "../../kernel/records.ts";

const H1 = "a".repeat(64);
const H2 = "b".repeat(64);
const URIS: RefUris = {
  uriFor: (p) => `file:///store/${p}`,
  blobUri: (h) => `sqlite:/meta.db#blobs/${h}`,
};
const INLINE: ArtifactRef = {
  hash: H1,
  path: blobPath(H1),
  uri: URIS.blobUri(H1),
  inline: true,
  size: 5,
  serializer: "json",
  serializerVersion: 1,
};
const OBJECT: ArtifactRef = {
  hash: H2,
  path: objectPath(H2),
  uri: URIS.uriFor(objectPath(H2)),
  size: 70_000,
  serializer: "json",
  serializerVersion: 1,
  meta: { k: 1 },
};
const BYTES = btoa("hello"); // 5 bytes

Deno.test("payload v2: inline bytes ride in the reference; refs expand to the same", () => {
  const compact = compactRefs({ a: INLINE, b: OBJECT }, { [H1]: BYTES });
  assert.deepEqual(compact.a, {
    hash: H1,
    serializer: "json",
    serializerVersion: 1,
    bytes: BYTES,
  });
  assert.equal(compact.b.path, undefined);
  const result: StepJobResult = { outputs: compact, readParams: [], worker: "w" };
  assert.deepEqual(refBlobs(result), { [H1]: BYTES });
  const full = expandRefs(compact, URIS);
  assert.deepEqual(full, { a: INLINE, b: OBJECT });
  assert.equal("bytes" in full.a, false, "bytes never reach the recorded reference");
});

Deno.test("payload v1: blobs by hash, inline flag and size kept", () => {
  const compact = compactRefs({ a: INLINE });
  assert.deepEqual(compact.a, {
    hash: H1,
    inline: true,
    size: 5,
    serializer: "json",
    serializerVersion: 1,
  });
  const result: StepJobResult = {
    outputs: compact,
    readParams: "*",
    worker: "w",
    blobs: { [H1]: BYTES },
  };
  assert.deepEqual(refBlobs(result), { [H1]: BYTES });
  assert.deepEqual(expandRefs(compact, URIS), { a: INLINE });
});

Deno.test("base64 sizes of every padding length", () => {
  for (const text of ["", "a", "ab", "abc", "abcd"]) {
    const ref = { ...INLINE, size: text.length };
    const full = expandRefs(compactRefs({ a: ref }, { [H1]: btoa(text) }), URIS);
    assert.equal(full.a.size, text.length);
  }
});
