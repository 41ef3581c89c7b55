/**
 * Lazy registration of the WASM components: the config schemas load on first
 * need (config validation, `component show`), the store and orchestrator (and
 * the sandbox runtime they drive) only when a stack uses `type: wasm`.
 * @module
 */
import type { ComponentClass } from "../../kernel/component.ts";
import type { ComponentRegistry } from "../../kernel/registry.ts";

/** Register `artifact_store` and `orchestrator` type `wasm` lazily (idempotent). */
export function register(reg: ComponentRegistry): void {
  if (!reg.entry("artifact_store", "wasm")) {
    reg.registerLazy({
      kind: "artifact_store",
      type: "wasm",
      origin: "builtin",
      source: "plugins/wasm/store.ts",
      description: "objects encoded by a sandboxed WASM plugin over an inner store",
      loadSchema: async () => (await import("./config.ts")).wasmArtifactStoreSchema,
      load: async () => (await import("./store.ts")).WasmArtifactStore as unknown as ComponentClass,
    });
  }
  if (!reg.entry("orchestrator", "wasm")) {
    reg.registerLazy({
      kind: "orchestrator",
      type: "wasm",
      origin: "builtin",
      source: "plugins/wasm/orchestrator.ts",
      description: "scheduling policy of a sandboxed WASM plugin, run by the kernel's engine",
      loadSchema: async () => (await import("./config.ts")).wasmOrchestratorSchema,
      load: async () =>
        (await import("./orchestrator.ts")).WasmOrchestrator as unknown as ComponentClass,
    });
  }
}
