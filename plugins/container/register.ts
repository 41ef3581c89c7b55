/**
 * Lazy registration of `ContainerOrchestrator` (`type: container`): the
 * config schema on first need, the implementation (which runs podman) on first use.
 * @module
 */
import type { ComponentClass } from "../../kernel/component.ts";
import type { ComponentRegistry } from "../../kernel/registry.ts";
import { lazyImport } from "../../kernel/lazy_import.ts";

/** Register the container orchestrator lazily. */
export function register(reg: ComponentRegistry): void {
  if (reg.entry("orchestrator", "container")) return;
  reg.registerLazy({
    kind: "orchestrator",
    type: "container",
    origin: "builtin",
    source: "plugins/container/orchestrator.ts",
    description: "every step in its own podman container of the built image (daemonless)",
    loadSchema: async () =>
      (await lazyImport<typeof import("./config.ts")>(new URL("./config.ts", import.meta.url)))
        .containerOrchestratorSchema,
    load: async () =>
      (await lazyImport<typeof import("./orchestrator.ts")>(
        new URL("./orchestrator.ts", import.meta.url),
      )).ContainerOrchestrator as unknown as ComponentClass,
  });
}
