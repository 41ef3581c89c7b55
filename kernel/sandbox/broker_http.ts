/**
 * `http.fetch` for the broker: checks the URL, host and secret bindings
 * against the grants, resolves secret handles, and hands the request to a
 * net helper process (net_helper.ts), which follows redirects hop by hop,
 * applies the deadline and streams the body with the size limit. Every hop
 * is audited; every text is redacted by the broker.
 * @module
 */
import type { Grants } from "./grants.ts";
import { globMatch, hostGranted } from "./net_match.ts";
import type { NetHelper, NetResult } from "./net_helper.ts";
import type { ErrorCode } from "./protocol.ts";
import type { Redactor } from "./redact.ts";

/** What `http.fetch` asks for. */
export interface FetchRequest {
  url: string;
  method?: string;
  headers?: Record<string, string | { secret: string }>;
}

/** How a fetch ended, for the broker to answer and audit. */
export type FetchOutcome =
  | { denied: true; resource: string; why: string; code: ErrorCode }
  | {
    denied: false;
    resource: string;
    json: Record<string, unknown>;
    body: Uint8Array;
    detail: string;
  };

/** What the broker lends a fetch. */
export interface FetchEnv {
  grants: Grants;
  /** Secret handle → secret name (issued by `secrets.get`). */
  secrets: Map<string, string>;
  redactor: Redactor;
  /** Audits one redirect hop. */
  audit: (op: string, resource: string, allowed: boolean, detail?: string) => void;
  /** Body bytes the call may still receive (max_output and the host-buffer quota). */
  maxBytes: number;
  /** Ms left before the call's deadline. */
  timeLeft: () => number;
  signal?: AbortSignal;
  /** The call's helper, spawned on first use. */
  helper: () => NetHelper;
  /** Drop the helper (it was killed). */
  dropHelper: () => void;
}

// RFC 9110 field-value: visible ASCII, obs-text, space and tab inside; no CR, LF or NUL.
const HEADER_VALUE = /^[\x21-\x7e\x80-\xff]([\t\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?$/;

function deny(resource: string, why: string, code: ErrorCode = "denied"): FetchOutcome {
  return { denied: true, resource, why, code };
}

/** The hosts secret `name` is bound to, or null when it may go to any granted host. */
function boundHosts(g: Grants, name: string): string[] | null {
  for (const [pattern, hosts] of Object.entries(g.secret_hosts)) {
    if (pattern === name || globMatch(pattern, name)) return hosts;
  }
  return null;
}

/** Resolve the request's headers; secrets become values the helper may only send where bound. */
function resolveHeaders(q: FetchRequest, url: URL, env: FetchEnv) {
  const headers: Record<string, string> = {};
  const secretHeaders: Record<string, string[] | null> = {};
  for (const [k, v] of Object.entries(q.headers ?? {})) {
    if (typeof v === "string") {
      headers[k] = v;
      continue;
    }
    const name = env.secrets.get(v.secret);
    if (!name) return deny(url.host, `unknown secret handle in header ${k}`);
    const value = Deno.env.get(name);
    if (value === undefined) return deny(url.host, `secret ${name} is not set`, "not_found");
    env.redactor.add(name, value);
    const bound = boundHosts(env.grants, name);
    if (bound && !hostGranted(bound, url)) {
      return deny(
        url.host,
        `secret ${name} may only be sent to ${
          bound.join(", ")
        } (grants.secrets), not to ${url.host}`,
      );
    }
    if (!HEADER_VALUE.test(value)) {
      return deny(
        url.host,
        `secret ${name} is not a valid HTTP header value (it has a line break, a control ` +
          `character or surrounding spaces); it was not sent`,
      );
    }
    headers[k] = value;
    secretHeaders[k] = bound;
  }
  return { headers, secretHeaders };
}

/** The request's URL when it is http(s) to a host in `grants.net`, else why not. */
export function fetchTarget(
  rawUrl: string,
  grants: Grants,
): { url: URL } | Extract<FetchOutcome, { denied: true }> {
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    return { denied: true, resource: rawUrl, why: "not a URL", code: "malformed" };
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    return { denied: true, resource: rawUrl, why: "only http(s) URLs", code: "denied" };
  }
  if (!hostGranted(grants.net, url)) {
    const why = `host not granted (grants.net: ${JSON.stringify(grants.net)})`;
    return { denied: true, resource: url.host, why, code: "denied" };
  }
  return { url };
}

/** Serve one `http.fetch` through the call's net helper. */
export async function brokeredFetch(
  q: FetchRequest,
  payload: Uint8Array,
  env: FetchEnv,
): Promise<FetchOutcome> {
  const target = fetchTarget(q.url, env.grants);
  if ("denied" in target) return target;
  const { url } = target;
  const net = env.grants.net;
  const h = resolveHeaders(q, url, env);
  if ("denied" in h) return h;
  const timeoutMs = Math.min(env.grants.timeout, env.timeLeft());
  if (timeoutMs <= 0) return deny(url.host, "the call's deadline has passed", "failed");
  const method = (q.method ?? "GET").toUpperCase();
  const res: NetResult = await env.helper().request({
    url: url.href,
    method,
    headers: h.headers,
    secretHeaders: h.secretHeaders,
    net,
    maxBytes: env.maxBytes,
    timeoutMs,
    ...(payload.length ? { body: payload.slice() } : {}),
  }, env.signal);
  for (const [i, hop] of res.hops.entries()) {
    const host = URL.canParse(hop.url) ? new URL(hop.url).host : hop.url;
    if (i > 0 || !hop.allowed) {
      env.audit("http.redirect", host, hop.allowed, `hop ${i}: ${hop.url}: ${hop.detail}`);
    }
  }
  if (!res.ok) {
    if (res.code === "failed" || res.code === "oversized") env.dropHelper();
    const why = res.code === "oversized"
      ? `response body passed the limit of ${env.maxBytes} bytes (grants.max_output, or the ` +
        `host buffers left under grants.memory); the rest was not read`
      : res.message;
    return deny(url.host, why, res.code);
  }
  const last = res.hops.at(-1);
  return {
    denied: false,
    resource: url.host,
    json: { status: res.status, headers: res.headers, ...(last ? { url: last.url } : {}) },
    body: res.body,
    detail: `${method} ${url.pathname} -> ${res.status}${
      res.hops.length > 1 ? ` after ${res.hops.length - 1} redirect(s)` : ""
    } (${res.body.length} bytes)`,
  };
}
