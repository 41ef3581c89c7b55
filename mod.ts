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

import * as kernelApi from "./kernel/mod.ts";
import * as sandboxApi from "./kernel/sandbox/mod.ts";
import * as builtins from "./plugins/mod.ts";

// npm plugin packages cannot import the host's copy of flowyml: a module exporting
// `components(flowyml)` receives this public API (under the CLI and in a plain script alike).
kernelApi.getComponentRegistry().setPluginApi({
  ...kernelApi,
  ...sandboxApi,
  LocalArtifactStore: builtins.LocalArtifactStore,
  LocalExecutor: builtins.LocalExecutor,
  LocalOrchestrator: builtins.LocalOrchestrator,
  registerBuiltins: builtins.registerBuiltins,
  SQLiteMetadataStore: builtins.SQLiteMetadataStore,
  WorkerExecutor: builtins.WorkerExecutor,
});
