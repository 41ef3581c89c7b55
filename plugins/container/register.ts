/**
 * Lazy registration of `ContainerOrchestrator` (`type: container`): the
 * config schema now, the implementation (which runs podman) on first use.
 * @module
 */
import type { ComponentClass } from "../../kernel/component.ts";
import type { ComponentRegistry } from "../../kernel/registry.ts";
import { containerOrchestratorSchema } from "./config.ts";

/** Register the container orchestrator lazily. */
export function register(reg: ComponentRegistry): void {
  if (reg.entry("orchestrator", "container")) return;
  reg.registerLazy({
    kind: "orchestrator",
    type: "container",
    origin: "builtin",
    source: "plugins/container/orchestrator.ts",
    description: "every step in its own podman container of the built image (daemonless)",
    schema: containerOrchestratorSchema,
    load: async () =>
      (await import("./orchestrator.ts")).ContainerOrchestrator as unknown as ComponentClass,
  });
}
