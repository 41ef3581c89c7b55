/**
 * `pluginStep()`: a pipeline step implemented by a sandboxed WASM plugin.
 * Inputs cross into the plugin as read handles (transferred buffers, copied
 * straight into guest memory); outputs come back as handles and go through
 * the normal serializer and content-addressed store path, so a failed plugin
 * never leaves an artifact recorded as complete. This module is light (it is
 * exported from "flowyml"); the sandbox runtime loads on the step's first run
 * (plugin_step_run.ts).
 * @module
 */
import { stableStringify } from "../hash.ts";
import { type ExecutionOptions, type Step, step } from "../step.ts";
import { knownPluginConfig } from "./plugin_configs.ts";
import { lazyImport } from "../lazy_import.ts";

/** Options of {@linkcode pluginStep}. */
export interface PluginStepOptions extends ExecutionOptions {
  /** Step name (default: the plugin name). */
  name?: string;
  /** Artifact names the step consumes, serialized and passed to the plugin as read handles 1…n. */
  inputs?: string[];
  /** Artifact names the plugin produces (default: none). */
  outputs?: string[];
  /** Export to call (default: the plugin's configured `op`, else `run`). */
  op?: string;
  /** JSON config passed to the plugin in its input. */
  config?: Record<string, unknown>;
}

/**
 * A step that runs plugin `pluginName` (configured under `plugins:` in
 * flowyml.yaml, or with `configurePlugins()`):
 *
 * ```ts ignore
 * const normalize = pluginStep("normalize", { inputs: ["raw"], outputs: ["features"] });
 * await new Pipeline("p", { stack }).add(load).add(normalize).run();
 * ```
 */
export function pluginStep(pluginName: string, options: PluginStepOptions = {}): Step {
  const { name, inputs = [], outputs = [], op, config, ...exec } = options;
  const known = knownPluginConfig(pluginName);
  const salt = stableStringify({
    plugin: pluginName,
    module: known?.sha256 ?? known?.source ?? null,
    op: op ?? null,
    config: config ?? null,
  });
  const stepName = name ?? pluginName;
  return step(
    { ...exec, name: stepName, inputs, outputs, cacheSalt: salt, params: [] },
    async (values: Record<string, unknown>, ctx) => {
      // The sandbox runtime loads on a plugin step's first run, not with `import "flowyml"`.
      const { runPluginStep } = await lazyImport<typeof import("./plugin_step_run.ts")>(
        new URL("./plugin_step_run.ts", import.meta.url),
      );
      const spec = { plugin: pluginName, inputs, outputs, op, config, timeoutMs: exec.timeoutMs };
      return await runPluginStep(spec, values, ctx);
    },
  );
}
