/**
 * WASM components: an artifact store (`type: wasm`) whose object format is a
 * sandboxed plugin, and an orchestrator (`type: wasm`) whose scheduling
 * policy is one. Importable by path (`flowyml/plugins/wasm`); `import
 * "flowyml"` only registers them lazily by type. The sandbox runtime they
 * drive is a kernel service (`flowyml/sandbox`). See docs/sandbox.md.
 * @module
 */
export { WasmArtifactStore } from "./store.ts";
export { SCHEDULE_EXPORT, type ScheduleInput, WasmOrchestrator } from "./orchestrator.ts";
export {
  type WasmArtifactStoreConfig,
  type WasmArtifactStoreOptions,
  wasmArtifactStoreSchema,
  type WasmOrchestratorConfig,
  type WasmOrchestratorOptions,
  wasmOrchestratorSchema,
} from "./config.ts";
