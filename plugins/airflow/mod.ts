/**
 * Apache Airflow orchestrator (`type: airflow`).
 * Importable by path (`flowyml/plugins/airflow`); `import "flowyml"` only registers
 * this component lazily by type, so its SDK loads when a stack uses it.
 * @module
 */
export { AirflowOrchestrator } from "./orchestrator.ts";
export { type AirflowConfig, airflowOrchestratorSchema } from "./config.ts";
