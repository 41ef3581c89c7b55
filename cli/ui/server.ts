/**
 * The `flowyml ui` server: routes, the access token, live updates and the
 * static page, on `Deno.serve`. See cli/ui/README.md.
 * @module
 */
import type { Stack } from "../../kernel/stack.ts";
import type { FlowymlConfig } from "../../kernel/config.ts";
import { uiQueriesFor } from "../../kernel/ui_queries.ts";
import { describeError, FlowymlError } from "../../kernel/errors.ts";
import {
  artifactApi,
  downloadArtifact,
  NotFound,
  runApi,
  runsApi,
  stepApi,
  type UiContext,
} from "./api.ts";
import { auditApi, compareApi, stacksApi } from "./api_more.ts";
import {
  checkToken,
  json,
  jsonError,
  resolveToken,
  SECURITY_HEADERS,
  staticAsset,
} from "./http.ts";
import { RunWatchers } from "./live.ts";
import { startResume } from "./actions.ts";

/** Options of {@linkcode startUiServer}. */
export interface UiServerOptions {
  /** Project config (stacks and plugins pages). */
  config: FlowymlConfig;
  /** Interface to bind (default `127.0.0.1`); another host needs `token`. */
  host?: string;
  /** Port (default 8787; 0 picks a free one). */
  port?: number;
  /** Access token; required for a non-local host. */
  token?: string;
  /** Enable resume and "retry from here". */
  allowActions?: boolean;
}

/** A running UI server. */
export interface UiServer {
  /** The URL to open (with `?token=` when a token is set). */
  url: string;
  /** The bound port. */
  port: number;
  /** Stop serving and close live streams. */
  shutdown(): Promise<void>;
  /** Resolves when the server has stopped. */
  finished: Promise<void>;
}

/** Serve the dashboard over `stack`'s stores. */
export async function startUiServer(stack: Stack, options: UiServerOptions): Promise<UiServer> {
  const host = options.host ?? "127.0.0.1";
  const token = resolveToken(host, options.token);
  const ctx: UiContext = {
    stack,
    config: options.config,
    queries: await uiQueriesFor(stack.metadataStore),
    allowActions: options.allowActions ?? false,
  };
  const watchers = new RunWatchers(ctx.queries, (id) => runApi(ctx, id));
  const wanted = options.port ?? 8787;
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve(
      { hostname: host, port: wanted, onListen: () => {} },
      (req) => handle(ctx, watchers, token, req),
    );
  } catch (err) {
    watchers.close();
    if (!(err instanceof Deno.errors.AddrInUse)) throw err;
    throw new FlowymlError(`flowyml ui: port ${wanted} on ${host} is already in use`, {
      hint: `stop what listens there, or pick another port: flowyml ui --port ${wanted + 1} ` +
        "(--port 0 picks a free one)",
    });
  }
  const port = server.addr.port;
  const shown = host.includes(":") ? `[${host}]` : host === "0.0.0.0" ? "127.0.0.1" : host;
  const url = `http://${shown}:${port}/${token ? `?token=${encodeURIComponent(token)}` : ""}`;
  return {
    url,
    port,
    finished: server.finished,
    async shutdown() {
      watchers.close();
      await server.shutdown();
    },
  };
}

async function handle(
  ctx: UiContext,
  watchers: RunWatchers,
  token: string | undefined,
  req: Request,
): Promise<Response> {
  const url = new URL(req.url);
  const denied = checkToken(req, url, token);
  if (denied) return denied;
  try {
    if (req.method === "POST") return await action(ctx, req, url);
    if (req.method !== "GET" && req.method !== "HEAD") return jsonError(405, "read-only");
    return await route(ctx, watchers, req, url) ??
      new Response("not found", { status: 404, headers: SECURITY_HEADERS });
  } catch (err) {
    if (err instanceof NotFound) return jsonError(404, err.message);
    if (err instanceof FlowymlError) return jsonError(400, err.message, err.hint);
    return jsonError(500, describeError(err));
  }
}

function seg(path: string, prefix: string): string[] | undefined {
  if (!path.startsWith(prefix)) return undefined;
  return path.slice(prefix.length).split("/").map(decodeURIComponent);
}

async function route(
  ctx: UiContext,
  watchers: RunWatchers,
  req: Request,
  url: URL,
): Promise<Response | undefined> {
  const path = url.pathname;
  if (path === "/favicon.ico") return new Response(null, { status: 204 });
  if (!path.startsWith("/api/")) return await staticAsset(path);
  if (path === "/api/runs") return json(await runsApi(ctx, url));
  if (path === "/api/compare") return json(await compareApi(ctx, url));
  if (path === "/api/audit") return json(await auditApi(ctx, url));
  if (path === "/api/stacks") return json(await stacksApi(ctx));
  if (path === "/api/info") {
    return json({ stack: ctx.stack.name, actions: ctx.allowActions });
  }
  let s = seg(path, "/api/run/");
  if (s?.length === 1) return json(await runApi(ctx, s[0]));
  if (s?.length === 2 && s[1] === "events") {
    await ctx.stack.metadataStore.getRun(s[0]).then((r) => {
      if (!r) throw new NotFound(`no run "${s![0]}"`);
    });
    return watchers.subscribe(s[0], req.signal);
  }
  s = seg(path, "/api/step/");
  if (s?.length === 2) return json(await stepApi(ctx, s[0], s[1]));
  s = seg(path, "/api/artifact/");
  if (s?.length === 1) return json(await artifactApi(ctx, s[0]));
  if (s?.length === 2 && s[1] === "download") return await downloadArtifact(ctx, s[0]);
  return undefined;
}

/** `POST /api/run/<id>/resume`: only with --allow-actions, only from this UI's own pages. */
async function action(ctx: UiContext, req: Request, url: URL): Promise<Response> {
  if (!ctx.allowActions) {
    return jsonError(403, "actions are disabled", "start the UI with --allow-actions");
  }
  // A custom header cannot be sent cross-site without a CORS preflight, which is never granted.
  if (req.headers.get("x-flowyml-action") !== "1") return jsonError(403, "missing action header");
  const origin = req.headers.get("origin");
  if (origin && origin !== url.origin) return jsonError(403, "cross-origin action refused");
  const s = seg(url.pathname, "/api/run/");
  if (s?.length !== 2 || s[1] !== "resume") return jsonError(404, "no such action");
  const run = await ctx.stack.metadataStore.getRun(s[0]);
  if (!run) throw new NotFound(`no run "${s[0]}"`);
  const body = await req.json().catch(() => ({})) as { step?: string };
  const started = startResume(run.runId, { stack: ctx.stack.name });
  return json({ started: true, pid: started.pid, step: body.step, command: started.command });
}
