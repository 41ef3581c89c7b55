/**
 * Lazy registration of `PostgresMetadataStore` (`type: postgres`): the
 * config schema is known at once, `npm:postgres` loads on first use.
 * @module
 */
import type { ComponentRegistry } from "../../kernel/registry.ts";
import type { ComponentClass } from "../../kernel/component.ts";
import { postgresMetadataStoreSchema } from "./config.ts";

/** Register the PostgreSQL metadata store lazily. */
export function register(reg: ComponentRegistry): void {
  if (reg.entry("metadata_store", "postgres")) return;
  reg.registerLazy({
    kind: "metadata_store",
    type: "postgres",
    origin: "builtin",
    description: "runs, lineage and cache in PostgreSQL (shared run history)",
    schema: postgresMetadataStoreSchema,
    load: async () => (await import("./metadata_store.ts")).PostgresMetadataStore as ComponentClass,
  });
}
