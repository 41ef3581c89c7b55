/**
 * Lazy registration of `GCSArtifactStore` (`type: gcs`): the schema now,
 * `@google-cloud/storage` only when a store is built.
 * @module
 */
import type { ComponentClass } from "../../kernel/component.ts";
import type { ComponentRegistry } from "../../kernel/registry.ts";
import { gcsStoreSchema } from "./config.ts";

/** Register `artifact_store` type `gcs` lazily. */
export function register(reg: ComponentRegistry): void {
  if (reg.entry("artifact_store", "gcs")) return;
  reg.registerLazy({
    kind: "artifact_store",
    type: "gcs",
    origin: "builtin",
    source: "plugins/gcs/store.ts",
    description: "Google Cloud Storage (npm:@google-cloud/storage)",
    schema: gcsStoreSchema,
    load: async () => (await import("./store.ts")).GCSArtifactStore as unknown as ComponentClass,
  });
}
