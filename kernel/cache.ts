/**
 * The step cache: a step is reused when its code, its inputs' content
 * hashes, the serializers' versions and the params it read all match an
 * earlier run, and every stored output is present in this stack's artifact
 * store and hashes to the hash recorded for it. A missing or corrupt output
 * makes the entry a miss (the step re-runs and rewrites it), never a hit.
 * @module
 */
import type { StackLike } from "./contracts.ts";
import { hashValue, sha256Hex } from "./hash.ts";
import type { ArtifactRef, CacheEntry } from "./records.ts";
import { getSerializers } from "./serializers.ts";
import { verifiedOutputs } from "./_stored_outputs.ts";
import { isJsonData } from "./params.ts";
import type { Step } from "./step.ts";

function serializerFingerprint(): string {
  const s = getSerializers();
  return s.names().map((n) => `${n}@${s.get(n).version}`).join(",");
}

/**
 * Cache key of a step: its code, its inputs (content hash, and the serializer and its meta that
 * turn those bytes into the value the step sees) and the serializer versions.
 */
export function cacheKey(step: Step, inputs: Record<string, ArtifactRef>): string {
  // Equal bytes are not equal values: `1` (json) and `"1"` (string), or a Float64Array and a
  // BigInt64Array of the same bytes (typed_array, meta.type), must not share a cached result.
  const ins = Object.keys(inputs).sort().map((k) => {
    const r = inputs[k];
    return [k, r.hash, r.serializer, r.meta ?? null];
  });
  return sha256Hex(JSON.stringify([step.codeHashInput, ins, serializerFingerprint()]));
}

/**
 * Hash of a param value as the step sees it: plain JSON data by its JSON. A run refuses any other
 * param before it starts (kernel/params.ts); should one reach this anyway (`NaN`, `±Infinity`,
 * `-0`, bigint, Map, Date …: JSON would turn `Infinity` and `-Infinity` into the same `null`), it
 * matches nothing, so no step is ever served a result computed with another value.
 */
function paramHash(v: unknown): string {
  return isJsonData(v) ? hashValue(v) : `unmatched:${crypto.randomUUID()}`;
}

function paramHashes(params: Record<string, unknown>, names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) out[n] = paramHash(params[n] ?? null);
  return out;
}

/**
 * The newest cache entry for `key` whose read params (`options.params`) match
 * and whose outputs all exist and verify in this stack's artifact store (or,
 * stored inline, in its metadata store, when `options.inline`). The entry
 * returned carries this stack's URIs, so a run records the objects it really
 * uses.
 */
export async function lookupCache(
  stack: StackLike,
  key: string,
  options: { params: Record<string, unknown>; inline?: boolean },
): Promise<CacheEntry | undefined> {
  const { params } = options;
  const entries = await stack.metadataStore.findCacheEntries(key);
  const allHash = paramHash(params);
  for (const e of entries) {
    const paramsMatch = e.readAllParams
      ? e.paramHashes["*"] === allHash
      : Object.entries(e.paramHashes).every(([k, h]) => paramHash(params[k] ?? null) === h);
    if (!paramsMatch) continue;
    const outputs = await verifiedOutputs(stack, e, { inline: !!options.inline });
    if (outputs) return { ...e, outputs };
  }
  return undefined;
}

/** The param hashes a cache entry records: those the step read, or all when it enumerated them. */
export function cacheParamHashes(
  visible: Record<string, unknown>,
  read: string[] | "*",
): Record<string, string> {
  return read === "*" ? { "*": paramHash(visible) } : paramHashes(visible, read);
}
