/**
 * Lazy registration of `VertexOrchestrator` (`type: vertex`): the schema on
 * first need, the REST client and google-auth-library on first use.
 * Also the `flowyml compile --target vertex|kfp` hook (./compile_target.ts).
 * @module
 */
import type { ComponentClass } from "../../kernel/component.ts";
import { registerCompileTarget } from "../../kernel/commands.ts";
import type { ComponentRegistry } from "../../kernel/registry.ts";
import { lazyImport } from "../../kernel/lazy_import.ts";

/** Register the Vertex orchestrator lazily. */
export function register(reg: ComponentRegistry): void {
  registerCompileTarget({
    targets: ["vertex", "kfp"],
    options: [{
      flags: "--pipeline-root <uri>",
      description: "vertex/kfp: defaultPipelineRoot, e.g. gs://bucket/root",
    }],
    load: () =>
      lazyImport<typeof import("./compile_target.ts")>(
        new URL("./compile_target.ts", import.meta.url),
      ),
  });
  if (reg.entry("orchestrator", "vertex")) return;
  reg.registerLazy({
    kind: "orchestrator",
    type: "vertex",
    origin: "builtin",
    source: "plugins/vertex/orchestrator.ts",
    description: "Vertex AI Pipelines: a KFP v2 PipelineSpec submitted over REST",
    loadSchema: async () =>
      (await lazyImport<typeof import("./config.ts")>(new URL("./config.ts", import.meta.url)))
        .vertexOrchestratorSchema,
    load: async () =>
      (await lazyImport<typeof import("./orchestrator.ts")>(
        new URL("./orchestrator.ts", import.meta.url),
      )).VertexOrchestrator as unknown as ComponentClass,
  });
}
