/**
 * HTTP plumbing of `flowyml ui`: the access token, security headers, JSON
 * responses and the committed static assets (no build step at run time).
 * @module
 */
import { fileURLToPath as fromFileUrl } from "node:url";
import { ConfigError } from "../../kernel/errors.ts";

/** Hosts that count as local: the UI binds to them without a token. */
const LOCAL_HOSTS = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);

/** True when `host` only accepts connections from this machine's loopback. */
export function isLocalHost(host: string): boolean {
  return LOCAL_HOSTS.has(host);
}

/** The token a bind to `host` needs: required for a non-local host. */
export function resolveToken(host: string, token: string | undefined): string | undefined {
  if (token !== undefined && token.length < 16) {
    throw new ConfigError("the UI token must be at least 16 characters", {
      hint: "generate one, e.g. `openssl rand -hex 24`",
    });
  }
  if (!token && !isLocalHost(host)) {
    throw new ConfigError(`binding the UI to ${host} needs an access token`, {
      hint: "pass --token <T> or set FLOWYML_UI_TOKEN (at least 16 characters); " +
        "or bind to 127.0.0.1 (the default)",
    });
  }
  return token || undefined;
}

function sameSecret(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a), y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

const COOKIE = "flowyml_ui_token";

function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

/**
 * Check a request's token (an `Authorization: Bearer` header, the cookie set
 * on first visit, or `?token=` on a page load). Returns a response to send
 * instead (401, or the redirect that sets the cookie), or `undefined` to go on.
 */
export function checkToken(
  req: Request,
  url: URL,
  token: string | undefined,
): Response | undefined {
  if (!token) return undefined;
  const bearer = /^Bearer (.+)$/.exec(req.headers.get("authorization") ?? "")?.[1];
  const cookie = (req.headers.get("cookie") ?? "").split(/;\s*/)
    .find((c) => c.startsWith(`${COOKIE}=`))?.slice(COOKIE.length + 1);
  const cookieToken = cookie ? safeDecode(cookie) : undefined;
  if ((bearer && sameSecret(bearer, token)) || (cookieToken && sameSecret(cookieToken, token))) {
    return undefined;
  }
  const q = url.searchParams.get("token");
  if (q && sameSecret(q, token) && req.method === "GET") {
    url.searchParams.delete("token");
    return new Response(null, {
      status: 303,
      headers: {
        location: url.pathname + url.search,
        "set-cookie": `${COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`,
        ...SECURITY_HEADERS,
      },
    });
  }
  return new Response("401: this flowyml ui needs its access token (?token=… once, or a bearer)", {
    status: 401,
    headers: { "content-type": "text/plain; charset=utf-8", ...SECURITY_HEADERS },
  });
}

/** Headers on every response: no inline scripts, no framing, no MIME sniffing. */
export const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self' " +
    "'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; " +
    "base-uri 'none'; form-action 'self'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
};

/** A JSON response. */
export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: {
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-store",
      ...SECURITY_HEADERS,
    },
  });
}

/** A JSON error response. */
export function jsonError(status: number, message: string, hint?: string): Response {
  return json({ error: message, ...(hint ? { hint } : {}) }, status);
}

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
};

const STATIC_ROOT = fromFileUrl(new URL("./static/", import.meta.url));
const STATIC_FILES = new Set([
  "index.html",
  "app.js",
  "core.js",
  "pages.js",
  "pages_more.js",
  "widgets.js",
  "style.css",
  "vendor/htm_preact.js",
]);

/** A committed static asset (`/`, `/static/<file>`), or `undefined` when `path` is not one. */
export async function staticAsset(path: string): Promise<Response | undefined> {
  const file = path === "/" || path === "/index.html"
    ? "index.html"
    : path.replace(/^\/static\//, "");
  if (!STATIC_FILES.has(file)) return undefined;
  const body = await Deno.readFile(STATIC_ROOT + file);
  const ext = file.slice(file.lastIndexOf(".") + 1);
  return new Response(body, {
    headers: {
      "content-type": TYPES[ext] ?? "application/octet-stream",
      "cache-control": "no-cache",
      ...SECURITY_HEADERS,
    },
  });
}
