/**
 * The built-in component types, registered without loading a component
 * class. The local stack's entries carry their config schema and their
 * permission needs from a validated config; the remote ones register their
 * own lazy entries (`<plugin>/register.ts`). A process that only plans a run
 * (the CLI's parent of a least-privilege child) imports this module, not
 * `plugins/mod.ts`, so it never loads the engine, SQLite or a cloud SDK.
 * `plugins/mod.ts` imports it, then registers the local classes eagerly.
 * @module
 */
import type { ComponentClass, ComponentKind } from "../kernel/component.ts";
import {
  type ComponentEntry,
  type ComponentRegistry,
  getComponentRegistry,
} from "../kernel/registry.ts";
import { lazyImport } from "../kernel/lazy_import.ts";
import type { SchemaLike } from "../kernel/schema.ts";
import {
  localArtifactStoreSchema,
  localExecutorSchema,
  localOrchestratorSchema,
  localStoreNeeds,
  workerExecutorNeeds,
  workerExecutorSchema,
} from "./local/config.ts";
import { sqliteMetadataStoreSchema, sqliteNeeds } from "./sqlite/config.ts";
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

/** A local component: how its class loads, its schema and its needs (as its class says). */
interface LocalType {
  kind: ComponentKind;
  type: string;
  load: () => Promise<ComponentClass>;
  schema: SchemaLike;
  needs: NonNullable<ComponentEntry["permissionsFor"]>;
}

const LOCAL_TYPES: LocalType[] = [
  {
    kind: "orchestrator",
    type: "local",
    load: async () =>
      (await lazyImport<typeof import("./local/orchestrator.ts")>(
        new URL("./local/orchestrator.ts", import.meta.url),
      ))
        .LocalOrchestrator as unknown as ComponentClass,
    schema: localOrchestratorSchema,
    needs: () => ({}),
  },
  {
    kind: "executor",
    type: "local",
    load: async () =>
      (await lazyImport<typeof import("./local/executor.ts")>(
        new URL("./local/executor.ts", import.meta.url),
      ))
        .LocalExecutor as unknown as ComponentClass,
    schema: localExecutorSchema,
    needs: () => ({}),
  },
  {
    kind: "executor",
    type: "worker",
    load: async () =>
      (await lazyImport<typeof import("./local/worker_executor.ts")>(
        new URL("./local/worker_executor.ts", import.meta.url),
      ))
        .WorkerExecutor as unknown as ComponentClass,
    schema: workerExecutorSchema,
    needs: () => workerExecutorNeeds(),
  },
  {
    kind: "artifact_store",
    type: "local",
    load: async () =>
      (await lazyImport<typeof import("./local/artifact_store.ts")>(
        new URL("./local/artifact_store.ts", import.meta.url),
      ))
        .LocalArtifactStore as unknown as ComponentClass,
    schema: localArtifactStoreSchema,
    needs: (c) => localStoreNeeds(c.path),
  },
  {
    kind: "metadata_store",
    type: "sqlite",
    load: async () =>
      (await lazyImport<typeof import("./sqlite/metadata_store.ts")>(
        new URL("./sqlite/metadata_store.ts", import.meta.url),
      ))
        .SQLiteMetadataStore as unknown as ComponentClass,
    schema: sqliteMetadataStoreSchema,
    needs: (c) => sqliteNeeds(c.path),
  },
];

/** Register every built-in component type, loading no class (idempotent). */
export function registerBuiltinTypes(reg: ComponentRegistry = getComponentRegistry()): void {
  for (const t of LOCAL_TYPES) {
    if (reg.entry(t.kind, t.type)) continue;
    reg.registerLazy({
      kind: t.kind,
      type: t.type,
      origin: "builtin",
      schema: t.schema,
      permissionsFor: t.needs,
      load: t.load,
    });
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

registerBuiltinTypes();
