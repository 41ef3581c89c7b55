/**
 * The WASM sandbox: untrusted components as Extism plugins, each run in its
 * own OS process with no Deno permissions and OS-enforced limits, with every request brokered by the
 * kernel against the grants in `flowyml.yaml` and written to the audit trail.
 * This runtime is a kernel service and holds no component: the `type: wasm`
 * artifact store and orchestrator are in plugins/wasm/ (`flowyml/plugins/wasm`).
 * See docs/sandbox.md and docs/protocol.md.
 * @module
 */
export { formatAudit } from "./audit.ts";
export { AUDIT_LIMITS, type AuditLimits } from "./broker_audit.ts";
export {
  MAX_HOPS,
  NetHelper,
  netHelperArgs,
  type NetHop,
  type NetRequest,
  type NetResult,
} from "./net_helper.ts";
export { Redactor } from "./redact.ts";
export { safeText, type SafeTextOptions } from "../display.ts";
export { PluginViolationError, SandboxError, type ViolationKind } from "./errors.ts";
export {
  checkArtifactPath,
  denyAll,
  globMatch,
  type Grants,
  grantsSchema,
  parseDuration,
  parsePluginConfig,
  parseSize,
  type PluginConfig,
  pluginConfigSchema,
} from "./grants.ts";
export { type BrokerFn, type CallOptions, type CallResult, PluginHost } from "./host.ts";
export { EXTISM_ENV, hostProcessArgs, RUNTIME_OVERHEAD } from "./plugin_process.ts";
export { forceLimitMode, type LimitMode, limitMode } from "./limits.ts";
export {
  checkImports,
  clearCompiledPlugins,
  defaultCacheDir,
  fetchPluginBytes,
  type LoadedPlugin,
  type LoadOptions,
  loadPlugin,
  MANIFEST_SECTION,
  type PluginManifest,
  type PrepareOptions,
  preparePlugin,
  readManifest,
} from "./loader.ts";
export { pluginStep, type PluginStepOptions } from "./plugin_step.ts";
export { type BrokerResponse, IMPORT_ALLOWLIST, PROTOCOL_VERSION } from "./protocol.ts";
export {
  closePluginHosts,
  configurePlugins,
  type InvokeOptions,
  invokePlugin,
  pluginHost,
  resolvePluginConfig,
} from "./runtime.ts";
export { closeSpareProcess, closeSpareWorker } from "./spare.ts";
export {
  appendCustomSection,
  listFunctionExports,
  listImports,
  type WasmImport,
} from "./wasm_binary.ts";
