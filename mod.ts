/**
 * flowyml: ML pipelines for Deno on a stack of pluggable components.
 *
 * ```ts ignore
 * import { Pipeline, step } from "./mod.ts";
 *
 * const load = step({ name: "load", outputs: ["rows"] }, () => [1, 2, 3, 4]);
 * const total = step({ name: "total", inputs: ["rows"], outputs: ["sum"] },
 *   ({ rows }) => rows.reduce((a: number, b: number) => a + b, 0));
 * const result = await new Pipeline("example").add(load).add(total).run();
 * console.log(result.outputs.sum); // 10
 * ```
 * @module
 */
import "./plugins/mod.ts";

export * from "./kernel/mod.ts";
export * from "./kernel/sandbox/mod.ts";
export {
  LocalArtifactStore,
  LocalExecutor,
  LocalOrchestrator,
  registerBuiltins,
  SQLiteMetadataStore,
  WorkerExecutor,
} from "./plugins/mod.ts";
