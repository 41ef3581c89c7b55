/**
 * Lazy registration of `KubernetesOrchestrator` (`type: kubernetes`): the
 * config schema on first need, `@kubernetes/client-node` on first use.
 * @module
 */
import type { ComponentClass } from "../../kernel/component.ts";
import type { ComponentRegistry } from "../../kernel/registry.ts";

/** Register the kubernetes orchestrator lazily. */
export function register(reg: ComponentRegistry): void {
  if (reg.entry("orchestrator", "kubernetes")) return;
  reg.registerLazy({
    kind: "orchestrator",
    type: "kubernetes",
    origin: "builtin",
    source: "plugins/kubernetes/orchestrator.ts",
    description: "every step attempt as its own Kubernetes Job of the built image",
    loadSchema: async () => (await import("./config.ts")).kubernetesOrchestratorSchema,
    load: async () =>
      (await import("./orchestrator.ts")).KubernetesOrchestrator as unknown as ComponentClass,
  });
}
