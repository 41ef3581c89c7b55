/**
 * OCI container registries (`type: oci`, `gcr`, `ecr`, `dockerhub`) and image builds.
 * Importable by path (`flowyml/plugins/oci`); `import "flowyml"` only registers
 * this component lazily by type, so its SDK loads when a stack uses it.
 * @module
 */
export {
  DockerHubRegistry,
  ECRContainerRegistry,
  GCRContainerRegistry,
  OCIContainerRegistry,
} from "./container_registry.ts";
export {
  type AuthFlavor,
  type OCIRegistryConfig,
  type OCIRegistryOptions,
  ociRegistrySchema,
} from "./config.ts";
export type { Descriptor, OciLayout } from "./layout.ts";
export type {
  Credentials,
  FetchedManifest,
  RegistryClient,
  RegistryClientOptions,
} from "./client.ts";
