/**
 * Lazy registration of `PostgresMetadataStore` (`type: postgres`): the
 * config schema loads on first need, `npm:postgres` loads on first use.
 * Its dashboard queries load when `flowyml ui` opens a PostgreSQL store.
 * @module
 */
import type { ComponentRegistry } from "../../kernel/registry.ts";
import { registerUiQueries } from "../../kernel/ui_queries.ts";
import type { ComponentClass } from "../../kernel/component.ts";
import { lazyImport } from "../../kernel/lazy_import.ts";

/** Register the PostgreSQL metadata store lazily. */
export function register(reg: ComponentRegistry): void {
  registerUiQueries("postgres", async () => {
    const { postgresUiQueries } = await lazyImport<typeof import("./ui_queries.ts")>(
      new URL("./ui_queries.ts", import.meta.url),
    );
    return (store) => postgresUiQueries(store as Parameters<typeof postgresUiQueries>[0]);
  });
  if (reg.entry("metadata_store", "postgres")) return;
  reg.registerLazy({
    kind: "metadata_store",
    type: "postgres",
    origin: "builtin",
    description: "runs, lineage and cache in PostgreSQL (shared run history)",
    loadSchema: async () =>
      (await lazyImport<typeof import("./config.ts")>(new URL("./config.ts", import.meta.url)))
        .postgresMetadataStoreSchema,
    load: async () =>
      (await lazyImport<typeof import("./metadata_store.ts")>(
        new URL("./metadata_store.ts", import.meta.url),
      )).PostgresMetadataStore as ComponentClass,
  });
}
