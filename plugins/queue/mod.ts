/**
 * Queue orchestrator and workers (`type: queue`; npm:bullmq on Redis).
 * Importable by path (`flowyml/plugins/queue`); `import "flowyml"` only registers
 * this component lazily by type, so its SDK loads when a stack uses it.
 * @module
 */
export { QueueOrchestrator, queueOrchestratorSchema, RemoteStepError } from "./orchestrator.ts";
export {
  type CurrentStep,
  listWorkers,
  QueueWorker,
  type QueueWorkerOptions,
  type WorkerInfo,
} from "./worker.ts";
export type { QueueConfig, QueueOrchestratorOptions } from "./config.ts";
