/**
 * Built-in components. Importing this module registers them all: light ones
 * eagerly, heavy ones (remote stores, queue, Postgres) lazily with their
 * config schema, so configs validate without loading their dependencies.
 * @module
 */
import { getComponentRegistry } from "../kernel/registry.ts";
import { LocalArtifactStore } from "./local/artifact_store.ts";
import { LocalExecutor } from "./local/executor.ts";
import { LocalOrchestrator } from "./local/orchestrator.ts";
import { SQLiteMetadataStore } from "./sqlite/metadata_store.ts";
import { WorkerExecutor } from "./local/worker_executor.ts";
import { register as registerS3 } from "./s3/register.ts";
import { register as registerOci } from "./oci/register.ts";
import { register as registerGcs } from "./gcs/register.ts";
import { register as registerQueue } from "./queue/register.ts";
import { register as registerPostgres } from "./postgres/register.ts";
import { register as registerSqlite } from "./sqlite/register.ts";
import { register as registerContainer } from "./container/register.ts";
import { register as registerVertex } from "./vertex/register.ts";
import { register as registerAirflow } from "./airflow/register.ts";
import { register as registerKubernetes } from "./kubernetes/register.ts";
import { register as registerWasm } from "./wasm/register.ts";

export {
  LocalArtifactStore,
  LocalExecutor,
  LocalOrchestrator,
  SQLiteMetadataStore,
  WorkerExecutor,
};

/** Register the built-in components (idempotent). */
export function registerBuiltins(): void {
  const reg = getComponentRegistry();
  for (
    const cls of [
      LocalOrchestrator,
      LocalExecutor,
      WorkerExecutor,
      LocalArtifactStore,
      SQLiteMetadataStore,
    ]
  ) {
    // `reg.entry` is a map lookup; `reg.entries()` sorts with `localeCompare`, whose first
    // call loads ICU collation data (≈ 12 ms of `import "flowyml"`).
    if (reg.entry(cls.kind, cls.type)?.cls !== cls) {
      reg.register(cls, undefined, { origin: "builtin" });
    }
  }
  registerS3(reg);
  registerOci(reg);
  registerGcs(reg);
  registerQueue(reg);
  registerPostgres(reg);
  registerSqlite();
  registerContainer(reg);
  registerVertex(reg);
  registerAirflow(reg);
  registerKubernetes(reg);
  registerWasm(reg);
}

registerBuiltins();
