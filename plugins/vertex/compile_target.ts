/**
 * `flowyml compile --target vertex|kfp`: the KFP v2 PipelineSpec (JSON) of a
 * pipeline, as a compile target hook (kernel/commands.ts, declared in
 * ./register.ts).
 * @module
 */
import type { CompileRequest } from "../../kernel/commands.ts";
import type { Pipeline } from "../../kernel/pipeline.ts";
import { compilePipelineSpec } from "./compile.ts";

/** The PipelineSpec as indented JSON (the `CompileTargetModule` of its hook). */
export function compileTarget(pipeline: Pipeline, request: CompileRequest): string {
  const { flags, target, ...common } = request;
  const spec = compilePipelineSpec(pipeline, {
    ...common,
    target: target as "vertex" | "kfp",
    pipelineRoot: flags.pipelineRoot as string | undefined,
  });
  return JSON.stringify(spec, null, 2) + "\n";
}
