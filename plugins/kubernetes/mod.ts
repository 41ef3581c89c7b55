/**
 * Kubernetes orchestrator (`type: kubernetes`; npm:@kubernetes/client-node).
 * Importable by path (`flowyml/plugins/kubernetes`); `import "flowyml"` only registers
 * this component lazily by type, so its SDK loads when a stack uses it.
 * @module
 */
export { KubernetesOrchestrator } from "./orchestrator.ts";
export {
  type KubernetesConfig,
  kubernetesOrchestratorSchema,
  type NodePool,
  type SecretKeyRef,
  type Toleration,
} from "./config.ts";
