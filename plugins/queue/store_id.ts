/**
 * The artifact store's identity token: the driver writes a random id into
 * its artifact store once (`flowyml-store-id`) and sends it with every job; a
 * worker compares it with the token it reads from its own artifact store, so
 * a worker configured with another store (a private folder, another bucket)
 * refuses steps instead of writing outputs no one else can read.
 * @module
 */
import type { ArtifactStore } from "../../kernel/contracts.ts";

/** Path of the token inside the artifact store. */
const STORE_ID_PATH = "flowyml-store-id";

/** The store's token, or `undefined` when it has none (or cannot be read). */
export async function readStoreId(store: ArtifactStore): Promise<string | undefined> {
  try {
    if (!(await store.exists(STORE_ID_PATH))) return undefined;
    const id = new TextDecoder().decode(await store.readBytes(STORE_ID_PATH)).trim();
    return id || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The store's token, written first when it has none. Two drivers creating it
 * at the same moment on a fresh store both read back the one that stayed.
 * `undefined` when the store cannot hold it (the check is then skipped).
 */
export async function ensureStoreId(store: ArtifactStore): Promise<string | undefined> {
  const found = await readStoreId(store);
  if (found) return found;
  try {
    await store.writeBytes(STORE_ID_PATH, new TextEncoder().encode(crypto.randomUUID()));
  } catch {
    return undefined;
  }
  return await readStoreId(store);
}
