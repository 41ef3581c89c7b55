/**
 * S3-compatible artifact stores (`type: s3`, `type: minio`; npm:minio).
 * Importable by path (`flowyml/plugins/s3`); `import "flowyml"` only registers
 * this component lazily by type, so its SDK loads when a stack uses it.
 * @module
 */
export { MinIOArtifactStore, S3ArtifactStore } from "./store.ts";
export {
  type MinIOStoreOptions,
  minioStoreSchema,
  type S3StoreConfig,
  type S3StoreOptions,
  s3StoreSchema,
} from "./config.ts";
