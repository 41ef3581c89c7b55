/**
 * Config schemas of the local components, built with the kernel's
 * `objectSchema` (no zod: the local stack is part of `import "flowyml"`,
 * which loads no npm package). Messages and `flowyml component show`'s JSON
 * Schema are zod's.
 * @module
 */
import { fileURLToPath, join } from "../../kernel/_path.ts";
import type { PermissionNeeds } from "../../kernel/component.ts";
import { importHostOf } from "../../kernel/permissions.ts";
import { objectSchema, type SchemaInput } from "../../kernel/schema.ts";

const NAME = { type: "string", optional: true } as const;

/** Config schema of the local artifact store. */
export const localArtifactStoreSchema = objectSchema({
  name: NAME,
  path: {
    type: "string",
    default: ".flowyml/artifacts",
    description: "folder holding the artifacts",
  },
});

/** Options of the local artifact store. */
export type LocalArtifactStoreOptions = SchemaInput<typeof localArtifactStoreSchema.fields>;

/** Config schema of the local orchestrator. */
export const localOrchestratorSchema = objectSchema({
  name: NAME,
  concurrency: { type: "integer", min: 1, default: 8, description: "max steps running at once" },
});

/** Options of the local orchestrator. */
export type LocalOrchestratorOptions = SchemaInput<typeof localOrchestratorSchema.fields>;

/** Config schema of the local executor (only `name`). */
export const localExecutorSchema = objectSchema({ name: NAME });

/** Config schema of the worker executor. */
export const workerExecutorSchema = objectSchema({
  name: NAME,
  workers: {
    type: "integer",
    min: 1,
    optional: true,
    description: "pool size (default: the number of CPU cores)",
  },
});

/** Options of the worker executor. */
export type WorkerExecutorOptions = SchemaInput<typeof workerExecutorSchema.fields>;

/** What a local artifact store at `path` needs (default `.flowyml/artifacts`): its folder. */
export function localStoreNeeds(path: unknown): PermissionNeeds {
  const dir = typeof path === "string" ? path : ".flowyml/artifacts";
  return { read: [dir], write: [dir] };
}

/**
 * What the worker executor needs. A Worker loads its modules afresh and Deno checks each load:
 * the host module (`_thread_main.ts`) and flowyml's own sources the pipeline module imports
 * (`mod.ts`, `kernel/`, `plugins/`). Read access to them when flowyml runs from files, import
 * access to their host when it runs from a URL. The pipeline module's own files are the planner's.
 */
export function workerExecutorNeeds(): PermissionNeeds {
  const root = new URL("../../", import.meta.url);
  if (root.protocol === "file:") {
    const dir = fileURLToPath(root);
    return { read: [join(dir, "mod.ts"), join(dir, "kernel"), join(dir, "plugins")] };
  }
  const host = importHostOf(root.href);
  return host ? { import: [host] } : {};
}
