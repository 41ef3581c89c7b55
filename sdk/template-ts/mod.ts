/**
 * A flowyml component package. The plugin convention: export `components`,
 * an array of component classes; `flowyml component load <this module>`
 * registers them all.
 * @module
 */
import { HelloArtifactStore } from "./hello_store.ts";
import { SimpleArtifactStore } from "./simple_store.ts";

export { HelloArtifactStore, SimpleArtifactStore };

/**
 * The components this package provides: `simple`, the seed-shaped starting
 * point (save/load/exists), and `hello`, a store with every method.
 */
export const components = [SimpleArtifactStore, HelloArtifactStore];
