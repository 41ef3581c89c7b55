/**
 * Hooks of the SQLite metadata store (the class itself is registered eagerly
 * by plugins/mod.ts): its dashboard queries, loaded when `flowyml ui` opens
 * a SQLite store.
 * @module
 */
import { registerUiQueries } from "../../kernel/ui_queries.ts";
import { lazyImport } from "../../kernel/lazy_import.ts";

/** Declare the SQLite dashboard queries (idempotent). */
export function register(): void {
  registerUiQueries("sqlite", async () => {
    const { sqliteUiQueries } = await lazyImport<typeof import("./ui_queries.ts")>(
      new URL("./ui_queries.ts", import.meta.url),
    );
    return (store) => sqliteUiQueries(store as Parameters<typeof sqliteUiQueries>[0]);
  });
}
