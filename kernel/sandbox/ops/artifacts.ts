/**
 * Artifact ops: `artifacts.get`, `artifacts.put`, `artifacts.exists` and
 * `artifacts.list`, against the stack's artifact store and the plugin's
 * `grants.artifacts` globs.
 * @module
 */
import { z } from "zod";
import type { ArtifactStore } from "../../artifact_store.ts";
import { anyMatch, checkArtifactPath } from "../grants.ts";
import { defineOp, type Denial, handleId, type OpEnv, type Outcome, str } from "./types.ts";

/** A safe path inside `grants.artifacts.read` (or `.write`), else the denial. */
function checkPath(q: { op: string; path: string }, env: OpEnv): Denial | undefined {
  const p = checkArtifactPath(q.path);
  if ("error" in p) return { resource: String(q.path), why: p.error };
  const write = q.op === "artifacts.put";
  const g = env.ctx.grants.artifacts;
  const grant = write ? g.write : g.read;
  if (anyMatch(grant, p.path)) return undefined;
  return {
    resource: p.path,
    why: `not granted (grants.artifacts.${write ? "write" : "read"}: ${JSON.stringify(grant)})`,
  };
}

/** The answer when the context has no artifact store. */
function noStore(resource: string): Denial {
  return { resource, why: "no artifact store in this context", code: "unsupported" };
}

/** Reads `path` as a stream, against the call's handle quota as the bytes arrive. */
async function readHeld(store: ArtifactStore, path: string, env: OpEnv): Promise<Outcome> {
  if (!(await store.exists(path))) {
    return { resource: path, why: "no such artifact", code: "not_found" };
  }
  // A hoarding plugin cannot make the kernel hold more than its memory grant in one call.
  const left = env.ctx.grants.memory - env.held.bytes;
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const c of await store.readStream(path)) {
    size += c.length;
    if (size > left) return env.hold(path, size)!;
    chunks.push(c);
  }
  const refused = env.hold(path, size);
  if (refused) return refused;
  const bytes = chunks.length === 1 ? chunks[0] : new Uint8Array(size);
  if (chunks.length !== 1) {
    let o = 0;
    for (const c of chunks) bytes.set(c, (o += c.length) - c.length);
  }
  return { resource: path, json: { size }, payload: bytes, detail: `${size} bytes` };
}

/** `artifacts.get`: the bytes of an artifact, as a read handle. */
export const artifactsGet = defineOp({
  name: "artifacts.get",
  schema: z.object({ path: str }),
  grant: "artifacts.read",
  check: checkPath,
  handle(q, env) {
    const store = env.ctx.stack?.artifactStore;
    return store ? readHeld(store, q.path, env) : noStore(q.path);
  },
});

/** `artifacts.put`: writes the bytes of a handle (attached by the host process) atomically. */
export const artifactsPut = defineOp({
  name: "artifacts.put",
  schema: z.object({ path: str, handle: handleId }),
  grant: "artifacts.write",
  check: checkPath,
  async handle(q, env, payload) {
    const store = env.ctx.stack?.artifactStore;
    if (!store) return noStore(q.path);
    // The host process attaches the handle's bytes; none means it does not exist or is empty.
    await store.writeBytes(q.path, payload.slice());
    const size = payload.length;
    return { resource: q.path, json: { size }, detail: `${size} bytes` };
  },
});

/** `artifacts.exists`. */
export const artifactsExists = defineOp({
  name: "artifacts.exists",
  schema: z.object({ path: str }),
  grant: "artifacts.read",
  check: checkPath,
  async handle(q, env) {
    const store = env.ctx.stack?.artifactStore;
    if (!store) return noStore(q.path);
    return { resource: q.path, json: { exists: await store.exists(q.path) } };
  },
});

/**
 * `artifacts.list`: only names inside the read grant, and never denied, so an empty and a
 * forbidden prefix answer the same.
 */
export const artifactsList = defineOp({
  name: "artifacts.list",
  schema: z.object({ prefix: str }),
  grant: "artifacts.read",
  async handle(q, env) {
    const store = env.ctx.stack?.artifactStore;
    if (!store) return noStore(q.prefix);
    const read = env.ctx.grants.artifacts.read;
    const items = (await store.list(q.prefix))
      .filter((o) => anyMatch(read, o.path))
      .map((o) => ({ path: o.path, size: o.size }));
    return { resource: q.prefix, json: { items }, detail: `${items.length} items` };
  },
});
