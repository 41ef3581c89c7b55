/**
 * Lazy registration of `AirflowOrchestrator` (`type: airflow`).
 * Also the `flowyml compile --target airflow` hook (./compile_target.ts).
 * @module
 */
import type { ComponentClass } from "../../kernel/component.ts";
import { registerCompileTarget } from "../../kernel/commands.ts";
import type { ComponentRegistry } from "../../kernel/registry.ts";

/** Register the Airflow orchestrator lazily. */
export function register(reg: ComponentRegistry): void {
  registerCompileTarget({
    targets: ["airflow"],
    options: [
      { flags: "--dag-id <id>", description: "airflow: the DAG id (default: the pipeline name)" },
      {
        flags: "--operator <kind>",
        description: "airflow: kubernetes (KubernetesPodOperator) or bash",
      },
    ],
    load: () => import("./compile_target.ts"),
  });
  if (reg.entry("orchestrator", "airflow")) return;
  reg.registerLazy({
    kind: "orchestrator",
    type: "airflow",
    origin: "builtin",
    source: "plugins/airflow/orchestrator.ts",
    description: "Apache Airflow 3: a DAG file per pipeline, runs triggered over the REST API",
    loadSchema: async () => (await import("./config.ts")).airflowOrchestratorSchema,
    load: async () =>
      (await import("./orchestrator.ts")).AirflowOrchestrator as unknown as ComponentClass,
  });
}
