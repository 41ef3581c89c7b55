/**
 * Lazy registration of `GCSArtifactStore` (`type: gcs`): the schema on first need,
 * `@google-cloud/storage` only when a store is built.
 * @module
 */
import type { ComponentClass } from "../../kernel/component.ts";
import type { ComponentRegistry } from "../../kernel/registry.ts";

/** Register `artifact_store` type `gcs` lazily. */
export function register(reg: ComponentRegistry): void {
  if (reg.entry("artifact_store", "gcs")) return;
  reg.registerLazy({
    kind: "artifact_store",
    type: "gcs",
    origin: "builtin",
    source: "plugins/gcs/store.ts",
    description: "Google Cloud Storage (npm:@google-cloud/storage)",
    loadSchema: async () => (await import("./config.ts")).gcsStoreSchema,
    load: async () => (await import("./store.ts")).GCSArtifactStore as unknown as ComponentClass,
  });
}
