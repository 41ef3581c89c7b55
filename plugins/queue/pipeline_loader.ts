/**
 * Workers import a run's pipeline module by the same specifier the driver
 * used (a file URL, an `https:` URL, or a path inside a built image), once
 * per process, and hash it to check it is the code version of the run.
 * @module
 */
import {
  describeError,
  explainPermission,
  FlowymlError,
  isPermissionError,
} from "../../kernel/errors.ts";
import { pipelineHash, type PipelineSpec } from "../../kernel/graph.ts";
import type { Step } from "../../kernel/step.ts";
import { codeIdentities } from "../../kernel/code_identity.ts";
import { sha256Hex } from "../../kernel/hash.ts";

/**
 * The code version of a pipeline as drivers and workers compare it: its
 * {@linkcode pipelineHash} (each step's code and wiring) plus the closure
 * hash of every local module defining its steps and of every local module
 * those import, transitively: the same module graph as the step cache key
 * (kernel/code_identity.ts). A worker with a stale helper module differs.
 */
export async function pipelineCodeHash(pipeline: PipelineSpec): Promise<string> {
  const ids = [...await codeIdentities(pipeline.steps)].sort(([a], [b]) => a.localeCompare(b));
  const text = [pipelineHash(pipeline), ...ids.map(([m, h]) => `${m} ${h}`)].join("\n");
  return sha256Hex(new TextEncoder().encode(text));
}

/** A pipeline module loaded by a worker. */
export interface LoadedPipeline {
  pipeline: PipelineSpec;
  /** {@linkcode pipelineHash} of it, computed once. */
  hash: string;
  /** {@linkcode pipelineCodeHash} of it, computed right after the import. */
  codeHash: string;
  steps: Map<string, Step>;
}

const loaded = new Map<string, Promise<LoadedPipeline>>();

function isPipeline(v: unknown): v is PipelineSpec {
  return !!v && typeof v === "object" && typeof (v as PipelineSpec).name === "string" &&
    Array.isArray((v as PipelineSpec).steps);
}

/**
 * Import the pipeline exported (as default or as `pipeline`) by `source`.
 * Cached per process: a changed module on disk is seen only after a restart,
 * which is what the hash check then reports.
 */
export function loadPipeline(source: string): Promise<LoadedPipeline> {
  let p = loaded.get(source);
  if (!p) {
    p = (async () => {
      let mod: Record<string, unknown>;
      try {
        mod = await import(source);
      } catch (err) {
        if (isPermissionError(err)) {
          throw explainPermission(err, `importing pipeline module ${source}`);
        }
        throw new FlowymlError(`cannot import pipeline module ${source}: ${describeError(err)}`, {
          hint: "workers import the pipeline by the driver's specifier: give them the same path, " +
            "URL or image as the driver",
          cause: err,
        });
      }
      const pipeline = [mod.default, mod.pipeline].find(isPipeline);
      if (!pipeline) {
        throw new FlowymlError(`pipeline module ${source} exports no Pipeline`, {
          hint: "export it as default (`export default new Pipeline(…)`) or as `pipeline`",
        });
      }
      return {
        pipeline,
        hash: pipelineHash(pipeline),
        codeHash: await pipelineCodeHash(pipeline),
        steps: new Map(pipeline.steps.map((s) => [s.name, s])),
      };
    })();
    p.catch(() => loaded.delete(source));
    loaded.set(source, p);
  }
  return p;
}
