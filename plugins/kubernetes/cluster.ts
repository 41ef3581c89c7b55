/**
 * The cluster the kubernetes orchestrator talks to, through
 * `@kubernetes/client-node`: the kubeconfig from the standard places
 * (`kubeconfig:`, else `$KUBECONFIG`, else `~/.kube/config`, else the
 * in-cluster service account), the context and namespace, the API clients,
 * the Deno permissions that reaching it needs, and API errors turned into
 * messages that say what to fix.
 * @module
 */
import * as k8s from "@kubernetes/client-node";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import type { PermissionNeeds } from "../../kernel/component.ts";
import { ComponentError } from "../../kernel/errors.ts";
import type { KubernetesConfig } from "./config.ts";

/** Where the in-cluster service account's token and CA are. */
const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** The loaded kubeconfig and the API clients of its current context. */
export interface Cluster {
  /** The kubeconfig. */
  kc: k8s.KubeConfig;
  /** Name of the context in use. */
  context: string;
  /** The API server's URL. */
  server: string;
  /** Namespace of the Jobs. */
  namespace: string;
  /** batch/v1 (Jobs). */
  batch: k8s.BatchV1Api;
  /** core/v1 (namespaces, pods, logs, ConfigMaps). */
  core: k8s.CoreV1Api;
  /** authorization.k8s.io/v1 (SelfSubjectAccessReview). */
  authz: k8s.AuthorizationV1Api;
  /** Pod log streaming. */
  log: k8s.Log;
}

/** The kubeconfig `cfg` names or the standard places hold; an error says where it looked. */
function loadKubeConfig(cfg: Pick<KubernetesConfig, "kubeconfig" | "context">) {
  const kc = new k8s.KubeConfig();
  try {
    if (cfg.kubeconfig) kc.loadFromFile(cfg.kubeconfig);
    else kc.loadFromDefault();
  } catch (err) {
    throw new ComponentError(`kubernetes: cannot read the kubeconfig: ${(err as Error).message}`, {
      hint: `looked at ${kubeconfigPlaces(cfg).join(", ")}`,
    });
  }
  const fallback = kc.getCurrentCluster();
  if (
    !cfg.kubeconfig && fallback?.name === "cluster" && kc.getContexts().length <= 1 &&
    fallback.server === "http://localhost:8080" && kc.getCurrentUser()?.name === "user"
  ) {
    throw new ComponentError("kubernetes: no kubeconfig found", {
      hint: `looked at ${kubeconfigPlaces(cfg).join(", ")} and the in-cluster service account ` +
        `(${SERVICE_ACCOUNT_DIR}); set orchestrator.kubeconfig or $KUBECONFIG`,
    });
  }
  if (cfg.context) {
    if (!kc.getContextObject(cfg.context)) {
      throw new ComponentError(`kubernetes: the kubeconfig has no context "${cfg.context}"`, {
        hint: `contexts: ${kc.getContexts().map((c) => c.name).join(", ") || "none"}`,
      });
    }
    kc.setCurrentContext(cfg.context);
  }
  return kc;
}

/** The files a kubeconfig is read from, in order. */
function kubeconfigPlaces(cfg: Pick<KubernetesConfig, "kubeconfig">): string[] {
  if (cfg.kubeconfig) return [cfg.kubeconfig];
  const env = Deno.env.get("KUBECONFIG");
  if (env) return env.split(delimiter).filter(Boolean);
  return [join(Deno.env.get("HOME") ?? homedir(), ".kube", "config")];
}

/** The cluster of `cfg`'s context, with its API clients. */
export function openCluster(cfg: KubernetesConfig): Cluster {
  const kc = loadKubeConfig(cfg);
  const context = kc.getCurrentContext();
  const cluster = kc.getCurrentCluster();
  if (!cluster) {
    throw new ComponentError(`kubernetes: context "${context}" names no cluster`, {
      hint: "fix the kubeconfig (`kubectl config view`)",
    });
  }
  const namespace = cfg.namespace ?? kc.getContextObject(context)?.namespace ?? "default";
  return {
    kc,
    context,
    server: cluster.server,
    namespace,
    batch: kc.makeApiClient(k8s.BatchV1Api),
    core: kc.makeApiClient(k8s.CoreV1Api),
    authz: kc.makeApiClient(k8s.AuthorizationV1Api),
    log: new k8s.Log(kc),
  };
}

/** The Deno permissions reaching the cluster of `cfg` needs (what can be known without a call). */
export function clusterPermissions(cfg: KubernetesConfig): PermissionNeeds {
  const needs: PermissionNeeds = {
    read: [...kubeconfigPlaces(cfg), SERVICE_ACCOUNT_DIR],
    // client-node imports socks-proxy-agent, whose `debug` dependency enumerates the whole
    // environment when it loads (Object.keys(process.env)): no variable list can do. The
    // variables it really reads are KUBECONFIG, HOME, KUBERNETES_SERVICE_HOST/PORT and
    // undici's UNDICI_NO_WASM_SIMD/UNDICI_USE_MILO.
    env: ["*"],
    net: [],
    run: [],
  };
  try {
    const kc = loadKubeConfig(cfg);
    const url = new URL(kc.getCurrentCluster()!.server);
    const port = url.port || (url.protocol === "https:" ? "443" : "80");
    needs.net!.push(`${url.hostname}:${port}`);
    const exec = kc.getCurrentUser()?.exec?.command;
    if (exec) needs.run!.push(exec);
    for (const f of [kc.getCurrentCluster()?.caFile, kc.getCurrentUser()?.certFile]) {
      if (f) needs.read!.push(f);
    }
    const keyFile = kc.getCurrentUser()?.keyFile;
    if (keyFile) needs.read!.push(keyFile);
  } catch {
    // No kubeconfig yet: the run fails with the loader's message.
  }
  return needs;
}

/** A Kubernetes `Status` (the body of API errors). */
interface StatusBody {
  kind?: string;
  reason?: string;
  message?: string;
  code?: number;
}

/** The HTTP code of an API error (0 when the server was not reached). */
export function apiCode(err: unknown): number {
  return err instanceof k8s.ApiException ? Number(err.code) : 0;
}

/** An API error as a ComponentError naming what was done, the server's message and a fix. */
export function apiError(err: unknown, what: string, cluster?: Pick<Cluster, "server">) {
  if (err instanceof ComponentError) return err;
  if (!(err instanceof k8s.ApiException)) {
    const msg = (err as Error)?.message ?? String(err);
    return new ComponentError(`kubernetes: ${what}: ${msg}`, {
      hint: `is the API server ${cluster?.server ?? ""} reachable? (kubeconfig context, network)`,
    });
  }
  const status = statusOf(err.body);
  const code = Number(err.code);
  const reason = ` ${status?.reason ?? REASONS[code] ?? ""}`.trimEnd();
  const message = status?.message ?? (typeof err.body === "string" ? err.body.slice(0, 300) : "");
  const hints: Record<number, string> = {
    401: "the kubeconfig's credentials were refused: renew the token or log in again",
    403: "RBAC denies it: grant the role in docs/orchestrators.md (kubectl auth can-i …)",
    404: "check orchestrator.namespace and that the object exists",
    409: "an object of that name exists already",
    422: "the API server rejected the manifest (a bug: please report it with the message)",
  };
  return new ComponentError(`kubernetes: ${what}: ${code}${reason}: ${message}`.trim(), {
    hint: hints[code] ?? `API server ${cluster?.server ?? ""}`,
  });
}

/** The Status reason of each code, for answers without a Status body. */
const REASONS: Record<number, string> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  409: "AlreadyExists",
  422: "Invalid",
  500: "InternalError",
};

function statusOf(body: unknown): StatusBody | undefined {
  if (body && typeof body === "object") return body as StatusBody;
  if (typeof body !== "string") return undefined;
  try {
    return JSON.parse(body) as StatusBody;
  } catch {
    return undefined;
  }
}
