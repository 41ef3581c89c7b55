/**
 * Lazy registration of the WASM components: the config schemas load on first
 * need (config validation, `component show`), the store and orchestrator (and
 * the sandbox runtime they drive) only when a stack uses `type: wasm`.
 * @module
 */
import type { ComponentClass } from "../../kernel/component.ts";
import type { ComponentRegistry } from "../../kernel/registry.ts";
import { lazyImport } from "../../kernel/lazy_import.ts";

/** Register `artifact_store` and `orchestrator` type `wasm` lazily (idempotent). */
export function register(reg: ComponentRegistry): void {
  if (!reg.entry("artifact_store", "wasm")) {
    reg.registerLazy({
      kind: "artifact_store",
      type: "wasm",
      origin: "builtin",
      source: "plugins/wasm/store.ts",
      description: "objects encoded by a sandboxed WASM plugin over an inner store",
      loadSchema: async () =>
        (await lazyImport<typeof import("./config.ts")>(new URL("./config.ts", import.meta.url)))
          .wasmArtifactStoreSchema,
      load: async () =>
        (await lazyImport<typeof import("./store.ts")>(new URL("./store.ts", import.meta.url)))
          .WasmArtifactStore as unknown as ComponentClass,
    });
  }
  if (!reg.entry("orchestrator", "wasm")) {
    reg.registerLazy({
      kind: "orchestrator",
      type: "wasm",
      origin: "builtin",
      source: "plugins/wasm/orchestrator.ts",
      description: "scheduling policy of a sandboxed WASM plugin, run by the kernel's engine",
      loadSchema: async () =>
        (await lazyImport<typeof import("./config.ts")>(new URL("./config.ts", import.meta.url)))
          .wasmOrchestratorSchema,
      load: async () =>
        (await lazyImport<typeof import("./orchestrator.ts")>(
          new URL("./orchestrator.ts", import.meta.url),
        )).WasmOrchestrator as unknown as ComponentClass,
    });
  }
}
