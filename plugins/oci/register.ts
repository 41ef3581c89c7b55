/**
 * Lazy registration of the container registries (`oci`, `gcr`, `ecr`,
 * `dockerhub`): schemas on first need, the implementation on first use.
 * Also the `flowyml image` command hook (./commands.ts).
 * @module
 */
import type { ComponentClass } from "../../kernel/component.ts";
import { type CommandModule, registerCommand } from "../../kernel/commands.ts";
import type { ComponentRegistry } from "../../kernel/registry.ts";
import { lazyImport } from "../../kernel/lazy_import.ts";

const TYPES = {
  oci: ["OCIContainerRegistry", "any OCI Distribution registry (basic, token or no auth)"],
  gcr: ["GCRContainerRegistry", "Google Container/Artifact Registry (OAuth token as password)"],
  ecr: ["ECRContainerRegistry", "Amazon ECR (AWS GetAuthorizationToken)"],
  dockerhub: ["DockerHubRegistry", "Docker Hub (token auth)"],
} as const;

/** Register `container_registry` types `oci`, `gcr`, `ecr`, `dockerhub` lazily. */
export function register(reg: ComponentRegistry): void {
  registerCommand({
    name: "image",
    description: "container images of pipelines (no Docker needed)",
    load: async () =>
      await lazyImport<typeof import("./commands.ts")>(
        new URL("./commands.ts", import.meta.url),
      ) as CommandModule,
  });
  for (const [type, [cls, description]] of Object.entries(TYPES)) {
    if (reg.entry("container_registry", type)) continue;
    reg.registerLazy({
      kind: "container_registry",
      type,
      origin: "builtin",
      source: "plugins/oci/container_registry.ts",
      description,
      loadSchema: async () =>
        (await lazyImport<typeof import("./config.ts")>(new URL("./config.ts", import.meta.url)))
          .ociRegistrySchema,
      load: async () =>
        (await lazyImport<typeof import("./container_registry.ts")>(
          new URL("./container_registry.ts", import.meta.url),
        ))[cls] as unknown as ComponentClass,
    });
  }
}
