/**
 * The flowyml microkernel: component contracts, registry, config loading,
 * the pipeline/run model and the run engine. It imports nothing from
 * `plugins/` or `cli/`.
 * @module
 */
export * from "./errors.ts";
export * from "./component.ts";
export * from "./records.ts";
export * from "./contracts.ts";
export * from "./artifact_store.ts";
export * from "./metadata_store.ts";
export * from "./serializers.ts";
export * from "./step.ts";
export * from "./graph.ts";
export * from "./registry.ts";
export * from "./config.ts";
export * from "./stack.ts";
export * from "./pipeline.ts";
export * from "./engine.ts";
export * from "./cache.ts";
export {
  type RunControl,
  type ScheduledStep,
  type ScheduledStepState,
  type ScheduleStatus,
  SchedulingError,
  type StepScheduler,
} from "./scheduling.ts";
export * from "./artifacts.ts";
export * from "./verify.ts";
export type { StepLogLine } from "./step_logs.ts";
export * from "./step_runner.ts";
export { hashValue, sha256Hex } from "./hash.ts";
export type { Schema, SchemaLike } from "./schema.ts";
export * from "./lifecycle.ts";
export * from "./run_book.ts";
export * from "./engine_orchestrator.ts";
