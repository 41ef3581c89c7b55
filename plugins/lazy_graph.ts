/**
 * Every module flowyml loads on demand with `lazyImport()` (kernel/lazy_import.ts),
 * each as a literal `import()` that is never called. A program whose entry
 * module imports this one (`import "flowyml/lazy_graph"`) has them all in its
 * module graph from the start: it loads them without read access to
 * flowyml's folder (a least-privilege process), `deno check` and `deno info`
 * see them, and `"nodeModulesDir": "auto"` checks their npm packages once at
 * start-up (≈ 100 ms, the price `import "flowyml"` no longer pays). The CLI's
 * entry modules import it. `tests/kernel/lazy_import_test.ts` keeps the list
 * complete.
 * @module
 */

/** The modules, by path relative to this file; never called. */
export const LAZY_MODULES: Record<string, () => Promise<unknown>> = {
  "../kernel/sandbox/mod.ts": () => import("../kernel/sandbox/mod.ts"),
  "../kernel/sandbox/plugin_step_run.ts": () => import("../kernel/sandbox/plugin_step_run.ts"),
  "./airflow/compile_target.ts": () => import("./airflow/compile_target.ts"),
  "./airflow/config.ts": () => import("./airflow/config.ts"),
  "./airflow/orchestrator.ts": () => import("./airflow/orchestrator.ts"),
  "./container/config.ts": () => import("./container/config.ts"),
  "./container/orchestrator.ts": () => import("./container/orchestrator.ts"),
  "./gcs/config.ts": () => import("./gcs/config.ts"),
  "./gcs/store.ts": () => import("./gcs/store.ts"),
  "./kubernetes/config.ts": () => import("./kubernetes/config.ts"),
  "./kubernetes/orchestrator.ts": () => import("./kubernetes/orchestrator.ts"),
  "./local/artifact_store.ts": () => import("./local/artifact_store.ts"),
  "./local/executor.ts": () => import("./local/executor.ts"),
  "./local/orchestrator.ts": () => import("./local/orchestrator.ts"),
  "./local/worker_executor.ts": () => import("./local/worker_executor.ts"),
  "./oci/commands.ts": () => import("./oci/commands.ts"),
  "./oci/config.ts": () => import("./oci/config.ts"),
  "./oci/container_registry.ts": () => import("./oci/container_registry.ts"),
  "./postgres/config.ts": () => import("./postgres/config.ts"),
  "./postgres/metadata_store.ts": () => import("./postgres/metadata_store.ts"),
  "./postgres/ui_queries.ts": () => import("./postgres/ui_queries.ts"),
  "./queue/commands.ts": () => import("./queue/commands.ts"),
  "./queue/config.ts": () => import("./queue/config.ts"),
  "./queue/orchestrator.ts": () => import("./queue/orchestrator.ts"),
  "./s3/config.ts": () => import("./s3/config.ts"),
  "./s3/store.ts": () => import("./s3/store.ts"),
  "./sqlite/metadata_store.ts": () => import("./sqlite/metadata_store.ts"),
  "./sqlite/ui_queries.ts": () => import("./sqlite/ui_queries.ts"),
  "./vertex/compile_target.ts": () => import("./vertex/compile_target.ts"),
  "./vertex/config.ts": () => import("./vertex/config.ts"),
  "./vertex/orchestrator.ts": () => import("./vertex/orchestrator.ts"),
  "./wasm/config.ts": () => import("./wasm/config.ts"),
  "./wasm/orchestrator.ts": () => import("./wasm/orchestrator.ts"),
  "./wasm/store.ts": () => import("./wasm/store.ts"),
};
