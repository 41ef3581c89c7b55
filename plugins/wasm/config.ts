/**
 * Config schemas of the WASM components (`artifact_store: { type: wasm }`
 * and `orchestrator: { type: wasm }`). Kept apart from the implementations so
 * `flowyml.yaml` validates without loading them.
 * @module
 */
import { z } from "zod";
import type { Schema } from "../../kernel/schema.ts";

/** Options of the `WasmArtifactStore` constructor (what its schema accepts). */
export interface WasmArtifactStoreOptions {
  /** Instance name (default `wasm`). */
  name?: string;
  /** Plugin name under `plugins:` in flowyml.yaml. */
  plugin: string;
  /**
   * Config of the store the plugin writes encoded objects to: its `type` plus that type's options
   * (default `{ type: "local" }`).
   */
  inner?: { type: string; [k: string]: unknown };
}

/** Parsed {@linkcode WasmArtifactStoreOptions}: `inner` defaulted. */
export type WasmArtifactStoreConfig =
  & WasmArtifactStoreOptions
  & Required<Pick<WasmArtifactStoreOptions, "inner">>;

const wasmArtifactStoreObject = z.object({
  name: z.string().optional(),
  plugin: z.string().min(1).describe("plugin name under plugins: in flowyml.yaml"),
  inner: z.object({ type: z.string() }).loose().default({ type: "local" })
    .describe("the store the plugin writes encoded objects to"),
}).strict();

/** Config of `artifact_store: { type: wasm }`: a plugin encoding objects over an inner store. */
export const wasmArtifactStoreSchema: Schema<WasmArtifactStoreConfig> = wasmArtifactStoreObject;
// The declared types are what the schema accepts and returns: `deno check` fails when they drift.
const _storeDeclared: z.ZodType<WasmArtifactStoreConfig, WasmArtifactStoreOptions> =
  wasmArtifactStoreObject;

/** Options of the `WasmOrchestrator` constructor (what its schema accepts). */
export interface WasmOrchestratorOptions {
  /** Instance name (default `wasm`). */
  name?: string;
  /** Plugin name under `plugins:` in flowyml.yaml. */
  plugin: string;
  /** Max steps running at once; further submissions wait in a queue (default 8). */
  concurrency?: number;
}

/** Parsed {@linkcode WasmOrchestratorOptions}: `concurrency` defaulted. */
export type WasmOrchestratorConfig =
  & WasmOrchestratorOptions
  & Required<Pick<WasmOrchestratorOptions, "concurrency">>;

const wasmOrchestratorObject = z.object({
  name: z.string().optional(),
  plugin: z.string().min(1).describe("plugin name under plugins: in flowyml.yaml"),
  concurrency: z.number().int().positive().default(8)
    .describe("max steps running at once; further submissions wait in a queue"),
}).strict();

/** Config of `orchestrator: { type: wasm }`: a plugin deciding what runs when. */
export const wasmOrchestratorSchema: Schema<WasmOrchestratorConfig> = wasmOrchestratorObject;
const _orchestratorDeclared: z.ZodType<WasmOrchestratorConfig, WasmOrchestratorOptions> =
  wasmOrchestratorObject;
