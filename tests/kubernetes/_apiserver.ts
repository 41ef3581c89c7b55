/**
 * A small Kubernetes API server for the tests (no kube-apiserver can run on
 * these machines): plain HTTP on 127.0.0.1, bearer-token auth, and the
 * endpoints the kubernetes orchestrator uses, each request checked against
 * the published API (path, verb, query parameters, body validated with
 * `kubernetes-models`); anything else is recorded as a violation and
 * answered with a `Status` as the real server would. Each Pod of a Job is a
 * real podman container ({@linkcode PodRuntime}). What it does not reproduce
 * is listed in docs/orchestrators.md.
 * @module
 */
import { Job } from "kubernetes-models/batch/v1";
import { ConfigMap } from "kubernetes-models/v1";
import { SelfSubjectAccessReview } from "kubernetes-models/authorization.k8s.io/v1";
import { type Obj, PodRuntime, type PodRuntime as Pod, type PodWorld } from "./_pods.ts";

/** Options of {@linkcode startApiServer}. */
export interface ApiServerOptions {
  /** Namespaces that exist. */
  namespaces: string[];
  /** `namespace/name` → Secret data. */
  secrets?: Record<string, Record<string, string>>;
  /** Access the reviews deny, as `verb group/resource[/sub]` (`get /pods/log`). */
  denied?: string[];
}

/** A running test API server. */
export interface ApiServer {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** The bearer token it accepts. */
  token: string;
  /** `METHOD path?query` of every request, in order. */
  requests: string[];
  /** Requests that do not match the published API. */
  violations: string[];
  /** Every Job body it accepted. */
  jobs: Obj[];
  /** Pods it ran, by name. */
  pods: Map<string, Pod>;
  /** Write a kubeconfig pointing at it (context namespace `namespace`). */
  writeKubeconfig(path: string, namespace: string, token?: string): Promise<void>;
  /** Stop it and remove every container it made. */
  stop(): Promise<void>;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const QUERY: Record<string, Set<string>> = {
  common: new Set(["pretty", "dryRun", "fieldManager", "fieldValidation"]),
  list: new Set(["labelSelector", "fieldSelector", "limit", "continue", "resourceVersion"]),
  log: new Set([
    "container",
    "follow",
    "previous",
    "timestamps",
    "tailLines",
    "sinceSeconds",
    "sinceTime",
    "limitBytes",
    "insecureSkipTLSVerifyBackend",
  ]),
  delete: new Set(["gracePeriodSeconds", "propagationPolicy", "orphanDependents"]),
};

/** A Kubernetes `Status` error response. */
export function status(code: number, reason: string, message: string, details?: Obj): Response {
  return Response.json({
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  }, { status: code });
}

/** Start the server on a free 127.0.0.1 port. */
export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const dir = await Deno.makeTempDir({ prefix: "flowyml-k8s-api-" });
  const world: PodWorld = {
    secrets: new Map(Object.entries(options.secrets ?? {})),
    configMaps: new Map(),
    dir,
  };
  const token = `k8s-test-${crypto.randomUUID()}`;
  const state: State = {
    options,
    world,
    token,
    requests: [],
    violations: [],
    jobs: new Map(),
    jobBodies: [],
    pods: new Map(),
  };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => handle(state, req).catch((err) => status(500, "InternalError", String(err))),
  );
  const url = `http://127.0.0.1:${server.addr.port}`;
  return {
    url,
    token,
    requests: state.requests,
    violations: state.violations,
    jobs: state.jobBodies,
    pods: state.pods,
    writeKubeconfig: (path, namespace, tok = token) =>
      Deno.writeTextFile(path, kubeconfigYaml(url, namespace, tok)),
    stop: async () => {
      await Promise.all([...state.pods.values()].map((p) => p.remove()));
      await server.shutdown();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

function kubeconfigYaml(url: string, namespace: string, token: string): string {
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    // client-node refuses plain http unless TLS verification is off for the cluster.
    `- name: test\n  cluster:\n    server: ${url}\n    insecure-skip-tls-verify: true`,
    "users:",
    `- name: tester\n  user:\n    token: ${token}`,
    "contexts:",
    `- name: test\n  context:\n    cluster: test\n    user: tester\n    namespace: ${namespace}`,
    "current-context: test",
    "",
  ].join("\n");
}

interface State {
  options: ApiServerOptions;
  world: PodWorld;
  token: string;
  requests: string[];
  violations: string[];
  jobs: Map<string, Obj>;
  jobBodies: Obj[];
  pods: Map<string, Pod>;
}

type Route = [string, RegExp, (s: State, req: Request, m: string[], url: URL) => Promise<Response>];

const ROUTES: Route[] = [
  ["GET", /^\/api\/v1\/namespaces\/([^/]+)$/, getNamespace],
  ["POST", /^\/apis\/batch\/v1\/namespaces\/([^/]+)\/jobs$/, createJob],
  ["GET", /^\/apis\/batch\/v1\/namespaces\/([^/]+)\/jobs\/([^/]+)$/, getJob],
  ["DELETE", /^\/apis\/batch\/v1\/namespaces\/([^/]+)\/jobs\/([^/]+)$/, deleteJob],
  ["GET", /^\/api\/v1\/namespaces\/([^/]+)\/pods$/, listPods],
  ["GET", /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/log$/, podLog],
  ["POST", /^\/api\/v1\/namespaces\/([^/]+)\/configmaps$/, createConfigMap],
  ["DELETE", /^\/api\/v1\/namespaces\/([^/]+)\/configmaps\/([^/]+)$/, deleteConfigMap],
  ["POST", /^\/apis\/authorization\.k8s\.io\/v1\/selfsubjectaccessreviews$/, accessReview],
];

async function handle(s: State, req: Request): Promise<Response> {
  const url = new URL(req.url);
  s.requests.push(`${req.method} ${url.pathname}${url.search}`);
  if (req.headers.get("authorization") !== `Bearer ${s.token}`) {
    return status(401, "Unauthorized", "Unauthorized");
  }
  const paths = ROUTES.filter(([, re]) => re.test(url.pathname));
  const route = paths.find(([verb]) => verb === req.method);
  if (!route) {
    s.violations.push(`no such endpoint: ${req.method} ${url.pathname}`);
    return paths.length
      ? status(
        405,
        "MethodNotAllowed",
        `the server does not allow this method on the requested resource`,
      )
      : status(404, "NotFound", "the server could not find the requested resource");
  }
  const m = route[1].exec(url.pathname)!.slice(1).map(decodeURIComponent);
  if (m[0] && !route[1].source.includes("selfsubject") && !s.options.namespaces.includes(m[0])) {
    return status(404, "NotFound", `namespaces "${m[0]}" not found`, {
      name: m[0],
      kind: "namespaces",
    });
  }
  return await route[2](s, req, m, url);
}

function checkQuery(s: State, url: URL, kinds: string[]): void {
  for (const k of url.searchParams.keys()) {
    if (!kinds.some((kind) => QUERY[kind].has(k)) && !QUERY.common.has(k)) {
      s.violations.push(`unknown query parameter ${k} on ${url.pathname}`);
    }
  }
}

/** The JSON body of a create, checked against its schema; a Response when it is refused. */
async function body(
  s: State,
  req: Request,
  check: { kind: string; apiVersion: string; model: (o: Obj) => { validate(): void } },
): Promise<Obj | Response> {
  if (!(req.headers.get("content-type") ?? "").includes("application/json")) {
    s.violations.push(`${req.method} ${new URL(req.url).pathname}: content-type is not JSON`);
    return status(415, "UnsupportedMediaType", "unsupported media type");
  }
  const obj = await req.json();
  const problems: string[] = [];
  if (obj.kind !== check.kind) problems.push(`kind ${obj.kind} is not ${check.kind}`);
  if (obj.apiVersion !== check.apiVersion) problems.push(`apiVersion ${obj.apiVersion}`);
  try {
    check.model(obj).validate();
  } catch (err) {
    problems.push(String(err));
  }
  if (problems.length) {
    s.violations.push(`${check.kind}: ${problems.join("; ")}`);
    return status(422, "Invalid", `${check.kind} is invalid: ${problems.join("; ")}`);
  }
  return obj;
}

function checkMeta(s: State, obj: Obj, ns: string, maxName: number): Response | undefined {
  const name = obj.metadata?.name ?? "";
  const bad = !DNS_SUBDOMAIN.test(name) || name.length > maxName ||
    (obj.metadata?.namespace && obj.metadata.namespace !== ns);
  if (!bad) return undefined;
  s.violations.push(`${obj.kind} ${name}: bad name or namespace`);
  return status(422, "Invalid", `${obj.kind} "${name}" is invalid: metadata.name`);
}

function getNamespace(s: State, _req: Request, m: string[], url: URL): Promise<Response> {
  checkQuery(s, url, []);
  return Promise.resolve(Response.json({
    kind: "Namespace",
    apiVersion: "v1",
    metadata: { name: m[0], uid: crypto.randomUUID() },
    spec: { finalizers: ["kubernetes"] },
    status: { phase: "Active" },
  }));
}

async function createJob(s: State, req: Request, [ns]: string[], url: URL): Promise<Response> {
  checkQuery(s, url, []);
  const job = await body(s, req, {
    kind: "Job",
    apiVersion: "batch/v1",
    model: (o) => new Job(o as never),
  });
  if (job instanceof Response) return job;
  const bad = checkMeta(s, job, ns, 63); // pods carry the Job's name as a label value
  if (bad) return bad;
  const key = `${ns}/${job.metadata.name}`;
  if (s.jobs.has(key)) {
    return status(409, "AlreadyExists", `jobs.batch "${job.metadata.name}" already exists`);
  }
  if (job.spec.backoffLimit !== 0) s.violations.push("only backoffLimit 0 is reproduced");
  s.jobBodies.push(structuredClone(job));
  const uid = crypto.randomUUID();
  job.metadata = { ...job.metadata, namespace: ns, uid, creationTimestamp: now() };
  job.status = { active: 1, startTime: now() };
  s.jobs.set(key, job);
  const tpl = job.spec.template;
  const podName = `${job.metadata.name}-${crypto.randomUUID().slice(0, 5)}`;
  const pod: Obj = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: podName,
      namespace: ns,
      uid: crypto.randomUUID(),
      creationTimestamp: now(),
      labels: {
        ...tpl.metadata?.labels,
        "job-name": job.metadata.name,
        "batch.kubernetes.io/job-name": job.metadata.name,
        "controller-uid": uid,
      },
      ownerReferences: [{ apiVersion: "batch/v1", kind: "Job", name: job.metadata.name, uid }],
    },
    spec: structuredClone(tpl.spec),
  };
  s.pods.set(podName, new PodRuntime(pod, s.world));
  return Response.json(job, { status: 201 });
}

function podsOf(s: State, job: Obj): Pod[] {
  return [...s.pods.values()].filter((p) =>
    p.pod.metadata.ownerReferences?.[0]?.uid === job.metadata.uid
  );
}

async function getJob(s: State, _req: Request, [ns, name]: string[], url: URL) {
  checkQuery(s, url, []);
  const job = s.jobs.get(`${ns}/${name}`);
  if (!job) return status(404, "NotFound", `jobs.batch "${name}" not found`, { name });
  for (const p of podsOf(s, job)) {
    await p.refresh();
    const phase = p.pod.status.phase;
    if (phase === "Succeeded" && !job.status.succeeded) {
      job.status = {
        ...job.status,
        active: 0,
        succeeded: 1,
        completionTime: now(),
        conditions: [{ type: "Complete", status: "True", lastTransitionTime: now() }],
      };
    }
    if (phase === "Failed" && !job.status.failed) {
      job.status = {
        ...job.status,
        active: 0,
        failed: 1,
        conditions: [{
          type: "Failed",
          status: "True",
          reason: "BackoffLimitExceeded",
          message: "Job has reached the specified backoff limit",
          lastTransitionTime: now(),
        }],
      };
    }
  }
  return Response.json(job);
}

async function deleteJob(s: State, req: Request, [ns, name]: string[], url: URL) {
  checkQuery(s, url, ["delete"]);
  const text = await req.text();
  const opts = text ? JSON.parse(text) : {};
  const policy = url.searchParams.get("propagationPolicy") ?? opts.propagationPolicy;
  const job = s.jobs.get(`${ns}/${name}`);
  if (!job) return status(404, "NotFound", `jobs.batch "${name}" not found`, { name });
  s.jobs.delete(`${ns}/${name}`);
  if (policy === "Background" || policy === "Foreground") {
    for (const p of podsOf(s, job)) {
      await p.remove();
      s.pods.delete(p.pod.metadata.name);
    }
  }
  return Response.json({
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Success",
    details: { name, group: "batch", kind: "jobs", uid: job.metadata.uid },
  });
}

/** `a=b,c=d` equality selectors (the only kind the orchestrator sends). */
function matches(labels: Record<string, string> = {}, selector: string): boolean {
  return selector.split(",").filter(Boolean).every((term) => {
    const [k, v] = term.split("=");
    return labels[k] === v;
  });
}

async function listPods(s: State, _req: Request, [ns]: string[], url: URL) {
  checkQuery(s, url, ["list"]);
  const selector = url.searchParams.get("labelSelector") ?? "";
  if (/!=|\bin\b|notin|==/.test(selector)) {
    s.violations.push(`selector not reproduced: ${selector}`);
  }
  const items: Obj[] = [];
  for (const p of s.pods.values()) {
    if (p.pod.metadata.namespace !== ns || !matches(p.pod.metadata.labels, selector)) continue;
    await p.refresh();
    items.push(p.pod);
  }
  return Response.json({ kind: "PodList", apiVersion: "v1", metadata: {}, items });
}

function podLog(s: State, _req: Request, [_ns, name]: string[], url: URL) {
  return Promise.resolve(podLogResponse(s, name, url));
}

function podLogResponse(s: State, name: string, url: URL): Response {
  checkQuery(s, url, ["log"]);
  const p = s.pods.get(name);
  if (!p) return status(404, "NotFound", `pods "${name}" not found`, { name, kind: "pods" });
  const container = url.searchParams.get("container");
  if (container && container !== p.spec.name) {
    return status(400, "BadRequest", `container ${container} is not valid for pod ${name}`);
  }
  if (!p.started) {
    const why = p.pod.status.containerStatuses?.[0]?.state?.waiting?.reason ?? "ContainerCreating";
    return status(
      400,
      "BadRequest",
      `container "${p.spec.name}" in pod "${name}" is waiting to start: ${why}`,
    );
  }
  const follow = url.searchParams.get("follow") === "true";
  return new Response(p.logs(follow), { headers: { "content-type": "text/plain" } });
}

async function createConfigMap(s: State, req: Request, [ns]: string[], url: URL) {
  checkQuery(s, url, []);
  const cm = await body(s, req, {
    kind: "ConfigMap",
    apiVersion: "v1",
    model: (o) => new ConfigMap(o as never),
  });
  if (cm instanceof Response) return cm;
  const bad = checkMeta(s, cm, ns, 253);
  if (bad) return bad;
  cm.metadata = {
    ...cm.metadata,
    namespace: ns,
    uid: crypto.randomUUID(),
    creationTimestamp: now(),
  };
  s.world.configMaps.set(`${ns}/${cm.metadata.name}`, cm);
  return Response.json(cm, { status: 201 });
}

function deleteConfigMap(s: State, _req: Request, [ns, name]: string[], url: URL) {
  checkQuery(s, url, ["delete"]);
  if (!s.world.configMaps.delete(`${ns}/${name}`)) {
    return Promise.resolve(status(404, "NotFound", `configmaps "${name}" not found`, { name }));
  }
  return Promise.resolve(Response.json({ kind: "Status", apiVersion: "v1", status: "Success" }));
}

async function accessReview(s: State, req: Request, _m: string[], url: URL) {
  checkQuery(s, url, []);
  const review = await body(s, req, {
    kind: "SelfSubjectAccessReview",
    apiVersion: "authorization.k8s.io/v1",
    model: (o) => new SelfSubjectAccessReview(o as never),
  });
  if (review instanceof Response) return review;
  const a = review.spec.resourceAttributes ?? {};
  const key = `${a.verb} ${a.group ?? ""}/${a.resource}${a.subresource ? `/${a.subresource}` : ""}`;
  const denied = (s.options.denied ?? []).includes(key);
  review.status = denied
    ? { allowed: false, denied: true, reason: "RBAC: no role grants it" }
    : { allowed: true, reason: "RBAC: allowed by the test server" };
  return Response.json(review, { status: 201 });
}

function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, "Z");
}
