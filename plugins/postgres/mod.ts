/**
 * PostgreSQL metadata store (`type: postgres`; npm:postgres).
 * Importable by path (`flowyml/plugins/postgres`); `import "flowyml"` only registers
 * this component lazily by type, so its SDK loads when a stack uses it.
 * @module
 */
export { PostgresMetadataStore } from "./metadata_store.ts";
export {
  type PostgresMetadataStoreConfig,
  type PostgresMetadataStoreOptions,
  postgresMetadataStoreSchema,
} from "./config.ts";
