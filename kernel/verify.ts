/**
 * Whole-store integrity check behind `flowyml artifacts verify`: every
 * artifact the metadata store recorded for runs on a stack (or for one run),
 * plus every content-addressed object in the stack's artifact store, is
 * hashed and compared with its recorded hash (for an object, the hash its
 * path names). Small artifacts stored inline in the metadata store (path
 * `blobs/<hash>`) are checked there, every stored blob included.
 * @module
 */
import { artifactUri, blobPath, checkObject, type ObjectCheck } from "./artifacts.ts";
import type { StackLike } from "./contracts.ts";
import { ConfigError } from "./errors.ts";
import type { ArtifactRef } from "./records.ts";

/** One object checked by {@linkcode verifyArtifacts}. */
export interface VerifiedObject {
  /** Path in the artifact store (`blobs/<hash>` for an artifact stored inline in the metadata store). */
  path: string;
  /** URI in this stack's artifact store (or its metadata store, when inline). */
  uri: string;
  /** The hash it must have. */
  hash: string;
  /** `ok`, `missing` or `corrupt` (then with the hash found). */
  check: ObjectCheck;
  /** Where the metadata store mentions it (`run/step.output`), if it does. */
  usedBy: string[];
}

/** Options of {@linkcode verifyArtifacts}. */
export interface VerifyArtifactsOptions {
  /** Check only this run's artifacts (default: every run on this stack and every stored object). */
  runId?: string;
  /** Objects hashed at once (default 4). */
  concurrency?: number;
}

const OBJECT = /^objects\/[0-9a-f]{2}\/([0-9a-f]{64})$/;

async function recordedRefs(
  stack: StackLike,
  runIds: string[],
  into: Map<string, { ref: Pick<ArtifactRef, "hash" | "path" | "inline">; usedBy: string[] }>,
): Promise<void> {
  const meta = stack.metadataStore;
  const add = (r: ArtifactRef, who: string) => {
    const ref = { hash: r.hash, path: r.path, ...(r.inline ? { inline: true } : {}) };
    const e = into.get(r.path) ?? { ref, usedBy: [] };
    if (!e.usedBy.includes(who)) e.usedBy.push(who);
    into.set(r.path, e);
  };
  for (const runId of runIds) {
    for (const a of await meta.listArtifacts(runId)) add(a, `${runId}/${a.step}.${a.name}`);
    for (const s of await meta.listStepRuns(runId)) {
      for (const [n, r] of Object.entries(s.outputs ?? {})) add(r, `${runId}/${s.step}.${n}`);
    }
  }
}

/**
 * Check a stack's artifacts against their recorded hashes; returns every
 * object checked, bad ones included (`check.status !== "ok"`).
 */
export async function verifyArtifacts(
  stack: StackLike,
  options: VerifyArtifactsOptions = {},
): Promise<VerifiedObject[]> {
  const meta = stack.metadataStore;
  const known = new Map<
    string,
    { ref: Pick<ArtifactRef, "hash" | "path" | "inline">; usedBy: string[] }
  >();
  if (options.runId) {
    if (!(await meta.getRun(options.runId))) {
      throw new ConfigError(`no run "${options.runId}" in stack "${stack.name}"`, {
        hint: "list runs with `flowyml runs list` (add --stack if it ran elsewhere)",
      });
    }
    await recordedRefs(stack, [options.runId], known);
  } else {
    const runs = await meta.listRuns({ limit: Number.MAX_SAFE_INTEGER });
    const mine = runs.filter((r) => r.stack === stack.name).map((r) => r.runId);
    await recordedRefs(stack, mine, known);
    for (const o of await stack.artifactStore.list("objects/")) {
      const m = OBJECT.exec(o.path);
      if (m && !known.has(o.path)) {
        known.set(o.path, { ref: { hash: m[1], path: o.path }, usedBy: [] });
      }
    }
    for (const b of await meta.listBlobs()) {
      const path = blobPath(b.hash);
      if (!known.has(path)) {
        known.set(path, { ref: { hash: b.hash, path, inline: true }, usedBy: [] });
      }
    }
  }
  const items = [...known.values()];
  const out: VerifiedObject[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      const { ref, usedBy } = items[i];
      out[i] = {
        path: ref.path,
        uri: artifactUri(stack.artifactStore, ref, meta),
        hash: ref.hash,
        check: await checkObject(stack.artifactStore, ref, { blobs: meta }),
        usedBy,
      };
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, worker));
  return out.sort((a, b) => a.path.localeCompare(b.path));
}
