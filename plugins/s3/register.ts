/**
 * Lazy registration of the S3-compatible artifact stores: the config schemas
 * load on first need, `npm:minio` is imported only when a store is built.
 * @module
 */
import type { ComponentClass } from "../../kernel/component.ts";
import type { ComponentRegistry } from "../../kernel/registry.ts";
import { lazyImport } from "../../kernel/lazy_import.ts";

/** Register `artifact_store` types `minio` and `s3` lazily. */
export function register(reg: ComponentRegistry): void {
  if (!reg.entry("artifact_store", "minio")) {
    reg.registerLazy({
      kind: "artifact_store",
      type: "minio",
      origin: "builtin",
      source: "plugins/s3/store.ts",
      description: "MinIO or any S3-compatible server (npm:minio)",
      loadSchema: async () =>
        (await lazyImport<typeof import("./config.ts")>(new URL("./config.ts", import.meta.url)))
          .minioStoreSchema,
      load: async () =>
        (await lazyImport<typeof import("./store.ts")>(new URL("./store.ts", import.meta.url)))
          .MinIOArtifactStore as unknown as ComponentClass,
    });
  }
  if (!reg.entry("artifact_store", "s3")) {
    reg.registerLazy({
      kind: "artifact_store",
      type: "s3",
      origin: "builtin",
      source: "plugins/s3/store.ts",
      description: "Amazon S3 or an S3-compatible endpoint (npm:minio)",
      loadSchema: async () =>
        (await lazyImport<typeof import("./config.ts")>(new URL("./config.ts", import.meta.url)))
          .s3StoreSchema,
      load: async () =>
        (await lazyImport<typeof import("./store.ts")>(new URL("./store.ts", import.meta.url)))
          .S3ArtifactStore as unknown as ComponentClass,
    });
  }
}
