/**
 * Container orchestrator (`type: container`): each step in its own container.
 * Importable by path (`flowyml/plugins/container`); `import "flowyml"` only registers
 * this component lazily by type, so its SDK loads when a stack uses it.
 * @module
 */
export { ContainerOrchestrator } from "./orchestrator.ts";
export { type ContainerConfig, containerOrchestratorSchema } from "./config.ts";
