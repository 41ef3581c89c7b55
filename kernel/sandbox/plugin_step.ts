/**
 * `pluginStep()`: a pipeline step implemented by a sandboxed WASM plugin.
 * Inputs cross into the plugin as read handles (transferred buffers, copied
 * straight into guest memory); outputs come back as handles and go through
 * the normal serializer and content-addressed store path, so a failed plugin
 * never leaves an artifact recorded as complete.
 * @module
 */
import { stableStringify } from "../hash.ts";
import { getSerializers } from "../serializers.ts";
import { type ExecutionOptions, type Step, step } from "../step.ts";
import { PluginViolationError } from "./errors.ts";
import { lendInput } from "./host.ts";
import { invokePlugin, knownPluginConfig, resolvePluginConfig } from "./runtime.ts";

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

/** One output as a plugin reports it. */
interface OutputSpec {
  handle?: number;
  serializer?: string;
  meta?: Record<string, unknown>;
  json?: unknown;
  text?: string;
}

/** The step's input values, serialized and lent to the plugin as read handles 1…n. */
function lendInputs(values: Record<string, unknown>, inputs: string[]) {
  const ser = getSerializers();
  const buffers: ArrayBuffer[] = [];
  const described: Record<string, unknown> = {};
  for (const input of inputs) {
    const s = ser.forValue(values[input]);
    const { bytes, meta } = s.serialize(values[input]);
    // Lent, not copied: the value may still be used by other steps, so it is not detached;
    // the host writes it to the plugin process and keeps no reference.
    buffers.push(lendInput(bytes));
    described[input] = {
      handle: buffers.length,
      size: bytes.length,
      serializer: s.name,
      meta: meta ?? {},
    };
  }
  return { buffers, described };
}

/** The declared outputs, read from the plugin's output JSON and handles. */
function readOutputs(
  pluginName: string,
  res: { json: unknown; handles: Record<number, ArrayBuffer | undefined> },
  outputs: string[],
): Record<string, unknown> {
  const ser = getSerializers();
  const out = (res.json as { outputs?: Record<string, OutputSpec> } | null)?.outputs;
  if (outputs.length && (!out || typeof out !== "object")) {
    throw new PluginViolationError(pluginName, "malformed", `step output has no "outputs" object`);
  }
  const result: Record<string, unknown> = {};
  for (const o of outputs) {
    const spec = out![o];
    if (!spec || typeof spec !== "object") {
      throw new PluginViolationError(pluginName, "malformed", `did not produce output "${o}"`);
    }
    if ("json" in spec) result[o] = spec.json;
    else if (typeof spec.text === "string") result[o] = spec.text;
    else {
      const buf = typeof spec.handle === "number" ? res.handles[spec.handle] : undefined;
      if (!buf) {
        throw new PluginViolationError(
          pluginName,
          "malformed",
          `output "${o}" names unknown handle ${spec.handle}`,
        );
      }
      const s = ser.get(spec.serializer ?? "bytes");
      result[o] = s.deserialize(new Uint8Array(buf), spec.meta);
    }
  }
  return result;
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
      const { buffers, described } = lendInputs(values, inputs);
      const fn = op ?? (await resolvePluginConfig(pluginName)).op ?? "run";
      const res = await invokePlugin(pluginName, fn, {
        input: {
          v: 1,
          op: fn,
          runId: ctx.runId,
          step: ctx.step,
          config: config ?? {},
          inputs: described,
          outputs,
          // Single-input/-output plugins read these to name what they consume and produce.
          ...(inputs.length === 1 ? { input_name: inputs[0] } : {}),
          ...(outputs.length === 1 ? { output_name: outputs[0] } : {}),
        },
        runId: ctx.runId,
        step: ctx.step,
        stack: ctx.stack,
        signal: ctx.signal,
        log: ctx.log,
        logMetrics: ctx.logMetrics,
        inputs: buffers,
        timeoutMs: exec.timeoutMs,
      });
      const result = readOutputs(pluginName, res, outputs);
      return outputs.length === 1 ? result[outputs[0]] : result;
    },
  );
}
