/**
 * Config schemas of the local components (zod). Their classes load this
 * module on first need (`static loadConfigSchema`), so `import "flowyml"`
 * does not load zod; the registry validates a stack's options with them.
 * @module
 */
import { z } from "zod";

/** Config schema of the local artifact store. */
export const localArtifactStoreSchema = z.object({
  name: z.string().optional(),
  path: z.string().default(".flowyml/artifacts").describe("folder holding the artifacts"),
}).strict();

/** Config schema of the local orchestrator. */
export const localOrchestratorSchema = z.object({
  name: z.string().optional(),
  concurrency: z.number().int().positive().default(8).describe("max steps running at once"),
}).strict();

/** Config schema of the local executor (only `name`). */
export const localExecutorSchema = z.object({ name: z.string().optional() }).strict();

/** Config schema of the worker executor. */
export const workerExecutorSchema = z.object({
  name: z.string().optional(),
  workers: z.number().int().positive().optional().describe(
    "pool size (default: the number of CPU cores)",
  ),
}).strict();
