/**
 * Lazy registration of `KubernetesOrchestrator` (`type: kubernetes`): the
 * config schema on first need, `@kubernetes/client-node` on first use.
 * @module
 */
import type { ComponentClass } from "../../kernel/component.ts";
import type { ComponentRegistry } from "../../kernel/registry.ts";
import { lazyImport } from "../../kernel/lazy_import.ts";

/** Register the kubernetes orchestrator lazily. */
export function register(reg: ComponentRegistry): void {
  if (reg.entry("orchestrator", "kubernetes")) return;
  reg.registerLazy({
    kind: "orchestrator",
    type: "kubernetes",
    origin: "builtin",
    source: "plugins/kubernetes/orchestrator.ts",
    description: "every step attempt as its own Kubernetes Job of the built image",
    loadSchema: async () =>
      (await lazyImport<typeof import("./config.ts")>(new URL("./config.ts", import.meta.url)))
        .kubernetesOrchestratorSchema,
    load: async () =>
      (await lazyImport<typeof import("./orchestrator.ts")>(
        new URL("./orchestrator.ts", import.meta.url),
      )).KubernetesOrchestrator as unknown as ComponentClass,
  });
}
