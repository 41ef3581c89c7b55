/**
 * Checking stored outputs before a step reuses them: a cache hit's (kernel/cache.ts) and a
 * resumed run's completed step's (kernel/step_attempts.ts) go through the same check.
 * @module
 */
import { artifactUri, checkObject } from "./artifacts.ts";
import type { StackLike } from "./contracts.ts";
import type { ArtifactRef, CacheEntry } from "./records.ts";

/**
 * The outputs of step `e.step` (a cache entry's, or a resumed run's step record's) as stored in
 * `stack`'s artifact store (URIs of this store), or `undefined` when one is missing there or does
 * not verify. An output stored inline in the metadata store counts only when `options.inline`
 * (every reader of the run reaches that store). `options.what` names them in the warning for a
 * corrupt one (default "cached output").
 */
export async function verifiedOutputs(
  stack: StackLike,
  e: Pick<CacheEntry, "step" | "outputs">,
  options: { inline: boolean; what?: string },
): Promise<Record<string, ArtifactRef> | undefined> {
  const { inline, what = "cached output" } = options;
  const store = stack.artifactStore;
  const blobs = stack.metadataStore;
  const names = Object.keys(e.outputs);
  if (!inline && names.some((n) => e.outputs[n].inline)) return undefined;
  const checks = await Promise.all(names.map((n) => checkObject(store, e.outputs[n], { blobs })));
  const out: Record<string, ArtifactRef> = {};
  for (const [i, n] of names.entries()) {
    const c = checks[i];
    const r = e.outputs[n];
    const uri = artifactUri(store, r, blobs);
    if (c.status === "corrupt") {
      console.warn(
        `flowyml: ${what} "${n}" of step "${e.step}" at ${uri} is ` +
          `corrupt (sha256 ${c.actual}, recorded ${r.hash}); not using it, the step re-runs`,
      );
    }
    if (c.status !== "ok") return undefined;
    out[n] = { ...r, uri };
  }
  return out;
}
