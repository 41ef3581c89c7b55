/**
 * The step cache: a step is reused when its code, its inputs' content
 * hashes, the serializers' versions and the params it read all match an
 * earlier run, and every stored output still exists.
 * @module
 */
import type { StackLike } from "./contracts.ts";
import { hashValue, sha256Hex } from "./hash.ts";
import type { ArtifactRef, CacheEntry } from "./records.ts";
import { getSerializers } from "./serializers.ts";
import type { Step } from "./step.ts";

function serializerFingerprint(): string {
  const s = getSerializers();
  return s.names().map((n) => `${n}@${s.get(n).version}`).join(",");
}

/** Cache key of a step: its code, its inputs' content hashes and the serializer versions. */
export function cacheKey(step: Step, inputs: Record<string, ArtifactRef>): string {
  const ins = Object.keys(inputs).sort().map((k) => [k, inputs[k].hash]);
  return sha256Hex(JSON.stringify([step.codeHashInput, ins, serializerFingerprint()]));
}

function paramHashes(params: Record<string, unknown>, names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) out[n] = hashValue(params[n] ?? null);
  return out;
}

/** The newest cache entry for `key` whose read params match and whose outputs all exist. */
export async function lookupCache(
  stack: StackLike,
  key: string,
  params: Record<string, unknown>,
): Promise<CacheEntry | undefined> {
  const entries = await stack.metadataStore.findCacheEntries(key);
  const allHash = hashValue(params);
  for (const e of entries) {
    const paramsMatch = e.readAllParams
      ? e.paramHashes["*"] === allHash
      : Object.entries(e.paramHashes).every(([k, h]) => hashValue(params[k] ?? null) === h);
    if (!paramsMatch) continue;
    // A hit counts only when every stored output still exists.
    const present = await Promise.all(
      Object.values(e.outputs).map((r) => stack.artifactStore.exists(r.path)),
    );
    if (present.every(Boolean)) return e;
  }
  return undefined;
}

/** The param hashes a cache entry records: those the step read, or all when it enumerated them. */
export function cacheParamHashes(
  visible: Record<string, unknown>,
  read: string[] | "*",
): Record<string, string> {
  return read === "*" ? { "*": hashValue(visible) } : paramHashes(visible, read);
}
