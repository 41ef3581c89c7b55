/**
 * Lazy registration of `AirflowOrchestrator` (`type: airflow`).
 * Also the `flowyml compile --target airflow` hook (./compile_target.ts).
 * @module
 */
import type { ComponentClass } from "../../kernel/component.ts";
import { registerCompileTarget } from "../../kernel/commands.ts";
import type { ComponentRegistry } from "../../kernel/registry.ts";
import { lazyImport } from "../../kernel/lazy_import.ts";

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
    load: () =>
      lazyImport<typeof import("./compile_target.ts")>(
        new URL("./compile_target.ts", import.meta.url),
      ),
  });
  if (reg.entry("orchestrator", "airflow")) return;
  reg.registerLazy({
    kind: "orchestrator",
    type: "airflow",
    origin: "builtin",
    source: "plugins/airflow/orchestrator.ts",
    description: "Apache Airflow 3: a DAG file per pipeline, runs triggered over the REST API",
    loadSchema: async () =>
      (await lazyImport<typeof import("./config.ts")>(new URL("./config.ts", import.meta.url)))
        .airflowOrchestratorSchema,
    load: async () =>
      (await lazyImport<typeof import("./orchestrator.ts")>(
        new URL("./orchestrator.ts", import.meta.url),
      )).AirflowOrchestrator as unknown as ComponentClass,
  });
}
