/**
 * Vertex AI Pipelines orchestrator (`type: vertex`).
 * Importable by path (`flowyml/plugins/vertex`); `import "flowyml"` only registers
 * this component lazily by type, so its SDK loads when a stack uses it.
 * @module
 */
export { VertexOrchestrator } from "./orchestrator.ts";
export { type VertexConfig, vertexOrchestratorSchema } from "./config.ts";
