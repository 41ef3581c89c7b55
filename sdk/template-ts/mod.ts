/**
 * A flowyml component package. The plugin convention: export `components`,
 * an array of component classes; `flowyml component load <this module>`
 * registers them all.
 * @module
 */
import { HelloArtifactStore } from "./hello_store.ts";

export { HelloArtifactStore };

/** The components this package provides. */
export const components = [HelloArtifactStore];
