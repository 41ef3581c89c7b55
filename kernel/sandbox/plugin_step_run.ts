/**
 * The run-time half of {@linkcode pluginStep}: lends the inputs to the
 * plugin, invokes it through the sandbox runtime and reads its outputs. Loaded
 * on a plugin step's first run, so `import "flowyml"` does not load the runtime.
 * @module
 */
import { getSerializers } from "../serializers.ts";
import type { StepContext } from "../step.ts";
import { PluginViolationError } from "./errors.ts";
import { lendInput } from "./host.ts";
import { invokePlugin, resolvePluginConfig } from "./runtime.ts";

/** What a plugin step was declared with. */
export interface PluginStepSpec {
  /** Plugin name under `plugins:`. */
  plugin: string;
  /** Input artifact names, lent as read handles 1…n. */
  inputs: string[];
  /** Output artifact names. */
  outputs: string[];
  /** Export to call, when given. */
  op?: string;
  /** JSON config passed to the plugin. */
  config?: Record<string, unknown>;
  /** Step timeout. */
  timeoutMs?: number;
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
async function lendInputs(values: Record<string, unknown>, inputs: string[]) {
  const ser = getSerializers();
  const buffers: ArrayBuffer[] = [];
  const described: Record<string, unknown> = {};
  for (const input of inputs) {
    const s = await ser.loadedFor(values[input]);
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
async function readOutputs(
  pluginName: string,
  res: { json: unknown; handles: Record<number, ArrayBuffer | undefined> },
  outputs: string[],
): Promise<Record<string, unknown>> {
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
      const s = await ser.loaded(spec.serializer ?? "bytes");
      result[o] = s.deserialize(new Uint8Array(buf), spec.meta);
    }
  }
  return result;
}

/** Run one plugin step: the step's value (its one output, or the outputs by name). */
export async function runPluginStep(
  spec: PluginStepSpec,
  values: Record<string, unknown>,
  ctx: StepContext,
): Promise<unknown> {
  const { plugin, inputs, outputs, op, config } = spec;
  const { buffers, described } = await lendInputs(values, inputs);
  const fn = op ?? (await resolvePluginConfig(plugin)).op ?? "run";
  const res = await invokePlugin(plugin, fn, {
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
    timeoutMs: spec.timeoutMs,
  });
  const result = await readOutputs(plugin, res, outputs);
  return outputs.length === 1 ? result[outputs[0]] : result;
}
