/**
 * Amazon ECR login without the AWS SDK: an AWS Signature Version 4 signer
 * (node:crypto) and the `GetAuthorizationToken` call, whose token is the
 * registry password for user `AWS`.
 * @module
 */
import { createHash, createHmac } from "node:crypto";
import { FlowymlError } from "../../kernel/errors.ts";

/** AWS credentials. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** A request to sign. */
export interface SignRequest {
  method: string;
  /** Path with query string, e.g. `/` or `/bucket/key?x=1`. */
  path: string;
  /** Header names in any case; `host` and `x-amz-date` must be present. */
  headers: Record<string, string>;
  /** Hex sha256 of the body (or `UNSIGNED-PAYLOAD`). */
  payloadHash: string;
}

function hmac(key: string | Uint8Array, data: string): Uint8Array {
  return createHmac("sha256", key).update(data).digest();
}

function encodeRfc3986(s: string): string {
  return encodeURIComponent(s).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/**
 * The SigV4 `Authorization` header for a request. Every given header is
 * signed except `authorization`, `content-length`, `content-type` and
 * `user-agent` (the set minio also leaves out).
 */
export function signV4(
  req: SignRequest,
  creds: AwsCredentials,
  scope: { region: string; service: string; date: Date },
): string {
  const ignored = new Set(["authorization", "content-length", "content-type", "user-agent"]);
  const headers = Object.entries(req.headers)
    .map(([k, v]) => [k.toLowerCase(), String(v).trim().replace(/\s+/g, " ")] as const)
    .filter(([k]) => !ignored.has(k))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const [rawPath, rawQuery = ""] = req.path.split("?");
  const query = rawQuery.split("&").filter(Boolean).map((kv) => {
    const [k, v = ""] = kv.split("=");
    return [encodeRfc3986(decodeURIComponent(k)), encodeRfc3986(decodeURIComponent(v))];
  }).sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`).join("&");
  const signedHeaders = headers.map(([k]) => k).join(";");
  const canonical = [
    req.method.toUpperCase(),
    rawPath || "/",
    query,
    headers.map(([k, v]) => `${k}:${v}\n`).join(""),
    signedHeaders,
    req.payloadHash,
  ].join("\n");
  const longDate = scope.date.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
  const shortDate = longDate.slice(0, 8);
  const credScope = `${shortDate}/${scope.region}/${scope.service}/aws4_request`;
  const toSign = [
    "AWS4-HMAC-SHA256",
    longDate,
    credScope,
    createHash("sha256").update(canonical).digest("hex"),
  ].join("\n");
  let key = hmac(`AWS4${creds.secretAccessKey}`, shortDate);
  key = hmac(key, scope.region);
  key = hmac(key, scope.service);
  key = hmac(key, "aws4_request");
  const sig = createHmac("sha256", key).update(toSign).digest("hex");
  return `AWS4-HMAC-SHA256 Credential=${creds.accessKeyId}/${credScope}, ` +
    `SignedHeaders=${signedHeaders}, Signature=${sig}`;
}

/** The region in an ECR registry host `<acct>.dkr.ecr.<region>.amazonaws.com`. */
export function ecrRegionOf(host: string): string | undefined {
  return /\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com/.exec(host)?.[1];
}

/**
 * Call ECR `GetAuthorizationToken` and return the registry login
 * (`AWS` / token) with its expiry.
 */
export async function ecrLogin(
  creds: AwsCredentials,
  region: string,
  options: { endpoint?: string } = {},
): Promise<{ username: string; password: string; expiresAt?: number }> {
  const endpoint = options.endpoint ?? `https://api.ecr.${region}.amazonaws.com/`;
  const url = new URL(endpoint);
  const body = "{}";
  const date = new Date();
  const headers: Record<string, string> = {
    host: url.host,
    "x-amz-date": date.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, ""),
    "x-amz-target": "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken",
    "content-type": "application/x-amz-json-1.1",
  };
  if (creds.sessionToken) headers["x-amz-security-token"] = creds.sessionToken;
  const payloadHash = createHash("sha256").update(body).digest("hex");
  headers.authorization = signV4(
    { method: "POST", path: url.pathname, headers, payloadHash },
    creds,
    { region, service: "ecr", date },
  );
  const { host: _, ...sendHeaders } = headers;
  const res = await fetch(url, { method: "POST", headers: sendHeaders, body });
  const text = await res.text();
  if (!res.ok) {
    let why = text.slice(0, 300);
    try {
      const j = JSON.parse(text);
      why = `${j.__type ?? ""} ${j.message ?? j.Message ?? ""}`.trim();
    } catch { /* not JSON */ }
    throw new FlowymlError(
      `ECR GetAuthorizationToken in ${region} failed: HTTP ${res.status} ${why}`,
      {
        hint: "check the AWS credentials and that they allow ecr:GetAuthorizationToken",
      },
    );
  }
  const data = JSON.parse(text).authorizationData?.[0];
  if (!data?.authorizationToken) {
    throw new FlowymlError(`ECR GetAuthorizationToken in ${region} returned no token`);
  }
  const decoded = atob(data.authorizationToken);
  const i = decoded.indexOf(":");
  return {
    username: decoded.slice(0, i),
    password: decoded.slice(i + 1),
    expiresAt: data.expiresAt ? Number(data.expiresAt) * 1000 : undefined,
  };
}
