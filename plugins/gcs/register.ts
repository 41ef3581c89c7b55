/**
 * Lazy registration of `GCSArtifactStore` (`type: gcs`): the schema on first need,
 * `@google-cloud/storage` only when a store is built.
 * @module
 */
import type { ComponentClass } from "../../kernel/component.ts";
import type { ComponentRegistry } from "../../kernel/registry.ts";
import { lazyImport } from "../../kernel/lazy_import.ts";

/** Register `artifact_store` type `gcs` lazily. */
export function register(reg: ComponentRegistry): void {
  if (reg.entry("artifact_store", "gcs")) return;
  reg.registerLazy({
    kind: "artifact_store",
    type: "gcs",
    origin: "builtin",
    source: "plugins/gcs/store.ts",
    description: "Google Cloud Storage (npm:@google-cloud/storage)",
    loadSchema: async () =>
      (await lazyImport<typeof import("./config.ts")>(new URL("./config.ts", import.meta.url)))
        .gcsStoreSchema,
    load: async () =>
      (await lazyImport<typeof import("./store.ts")>(new URL("./store.ts", import.meta.url)))
        .GCSArtifactStore as unknown as ComponentClass,
  });
}
