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
import { register as registerS3 } from "./s3/register.ts";

export { LocalArtifactStore, LocalExecutor, LocalOrchestrator, SQLiteMetadataStore };

/** Register the built-in components (idempotent). */
export function registerBuiltins(): void {
  const reg = getComponentRegistry();
  for (const cls of [LocalOrchestrator, LocalExecutor, LocalArtifactStore, SQLiteMetadataStore]) {
    if (!reg.entries().some((e) => e.cls === cls)) {
      reg.register(cls, undefined, { origin: "builtin" });
    }
  }
  registerS3(reg);
}

registerBuiltins();
