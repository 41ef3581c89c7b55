/**
 * Config schemas of the WASM components (`artifact_store: { type: wasm }`
 * and `orchestrator: { type: wasm }`). Kept apart from the implementations so
 * `flowyml.yaml` validates without loading them.
 * @module
 */
import { z } from "zod";

/** Config of `artifact_store: { type: wasm }`: a plugin encoding objects over an inner store. */
export const wasmArtifactStoreSchema = z.object({
  name: z.string().optional(),
  plugin: z.string().min(1).describe("plugin name under plugins: in flowyml.yaml"),
  inner: z.object({ type: z.string() }).loose().default({ type: "local" })
    .describe("the store the plugin writes encoded objects to"),
}).strict();

/** Options of the `WasmArtifactStore` constructor (what the schema accepts). */
export type WasmArtifactStoreOptions = z.input<typeof wasmArtifactStoreSchema>;

/** Config of `orchestrator: { type: wasm }`: a plugin deciding what runs when. */
export const wasmOrchestratorSchema = z.object({
  name: z.string().optional(),
  plugin: z.string().min(1).describe("plugin name under plugins: in flowyml.yaml"),
  concurrency: z.number().int().positive().default(8)
    .describe("max steps running at once; further submissions wait in a queue"),
}).strict();

/** Options of the `WasmOrchestrator` constructor (what the schema accepts). */
export type WasmOrchestratorOptions = z.input<typeof wasmOrchestratorSchema>;
