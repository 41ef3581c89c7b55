/**
 * Built-in components. Importing this module registers them all: the local
 * stack's classes eagerly, the heavy ones (remote stores, queue, Postgres)
 * lazily with their config schema (`builtin_types.ts`), so configs validate
 * without loading their dependencies. A process that needs only the types
 * (the CLI's launcher) imports `builtin_types.ts` instead.
 * @module
 */
import { getComponentRegistry } from "../kernel/registry.ts";
import { LocalArtifactStore } from "./local/artifact_store.ts";
import { LocalExecutor } from "./local/executor.ts";
import { LocalOrchestrator } from "./local/orchestrator.ts";
import { SQLiteMetadataStore } from "./sqlite/metadata_store.ts";
import { WorkerExecutor } from "./local/worker_executor.ts";
import { registerBuiltinTypes } from "./builtin_types.ts";

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
  registerBuiltinTypes(reg);
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
}

registerBuiltins();
