/**
 * Google Cloud Storage artifact store (`type: gcs`; npm:@google-cloud/storage).
 * Importable by path (`flowyml/plugins/gcs`); `import "flowyml"` only registers
 * this component lazily by type, so its SDK loads when a stack uses it.
 * @module
 */
export { GCSArtifactStore } from "./store.ts";
export { type GCSStoreConfig, type GCSStoreOptions, gcsStoreSchema } from "./config.ts";
