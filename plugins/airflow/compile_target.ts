/**
 * `flowyml compile --target airflow`: the Airflow 3 DAG file of a pipeline,
 * as a compile target hook (kernel/commands.ts, declared in ./register.ts).
 * @module
 */
import type { CompileRequest } from "../../kernel/commands.ts";
import type { Pipeline } from "../../kernel/pipeline.ts";
import { compileAirflowDag } from "./dag.ts";

/** The DAG file's text (the `CompileTargetModule` of its hook). */
export function compileTarget(pipeline: Pipeline, request: CompileRequest): string {
  const { flags, target: _target, ...common } = request;
  return compileAirflowDag(pipeline, {
    ...common,
    dagId: flags.dagId as string | undefined,
    operator: flags.operator as "kubernetes" | "bash" | undefined,
  });
}
