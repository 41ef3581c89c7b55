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
// The WASM sandbox API lives at "flowyml/sandbox" (kernel/sandbox/mod.ts); the root keeps
// `pluginStep`, which loads the sandbox runtime on a plugin step's first run, and the errors.
export { pluginStep, type PluginStepOptions } from "./kernel/sandbox/plugin_step.ts";
export { PluginViolationError, SandboxError, type ViolationKind } from "./kernel/sandbox/errors.ts";
export {
  LocalArtifactStore,
  LocalExecutor,
  LocalOrchestrator,
  registerBuiltins,
  SQLiteMetadataStore,
  WorkerExecutor,
} from "./plugins/mod.ts";

import * as kernelApi from "./kernel/mod.ts";
import * as builtins from "./plugins/mod.ts";
import { lazyImport } from "./kernel/lazy_import.ts";
import { pluginStep } from "./kernel/sandbox/plugin_step.ts";
import { PluginViolationError, SandboxError } from "./kernel/sandbox/errors.ts";

// npm plugin packages cannot import the host's copy of flowyml: a module exporting
// `components(flowyml)` receives this public API plus "flowyml/sandbox" (under the CLI and in a
// plain script alike), built when a plugin first asks, so the sandbox loads only then.
kernelApi.getComponentRegistry().setPluginApi(async () => ({
  ...kernelApi,
  ...await lazyImport<typeof import("./kernel/sandbox/mod.ts")>(
    new URL("./kernel/sandbox/mod.ts", import.meta.url),
  ),
  pluginStep,
  PluginViolationError,
  SandboxError,
  LocalArtifactStore: builtins.LocalArtifactStore,
  LocalExecutor: builtins.LocalExecutor,
  LocalOrchestrator: builtins.LocalOrchestrator,
  registerBuiltins: builtins.registerBuiltins,
  SQLiteMetadataStore: builtins.SQLiteMetadataStore,
  WorkerExecutor: builtins.WorkerExecutor,
}));
