/**
 * A small OCI Distribution API client over `fetch`: blobs (monolithic and
 * chunked uploads), manifests, tags and digests, with the registry auth
 * handshake (Basic, or Bearer token exchange from the `Www-Authenticate`
 * challenge, as Docker Hub, GCR/Artifact Registry and most registries use).
 * @module
 */
import { FlowymlError, isPermissionError, MissingPermissionError } from "../../kernel/errors.ts";
import { isTransient, RetriesExhaustedError, withRetry } from "../s3/retry.ts";
import { redact } from "../s3/secrets.ts";

/** OCI / Docker media types. */
export const MEDIA = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
} as const;

const ACCEPT_MANIFESTS = [MEDIA.ociManifest, MEDIA.ociIndex, MEDIA.dockerManifest, MEDIA.dockerList]
  .join(", ");

/** Username/password for the registry (or for the token service). */
export interface Credentials {
  /** User name. */
  username: string;
  /** Password or token. */
  password: string;
}

/** Options of {@linkcode RegistryClient}. */
export interface RegistryClientOptions {
  /** Registry host, `host[:port]`. */
  host: string;
  /** Plain http (local registries). */
  insecure?: boolean;
  /** Called when the registry asks for credentials; may fetch tokens (ECR, GCR). */
  credentials?: () => Promise<Credentials | undefined>;
  /** Retries of a transient failure per request (default 4). */
  maxRetries?: number;
  /** Chunk size for blob uploads, bytes (default 16 MiB). */
  chunkSize?: number;
}

/** A fetched manifest. */
export interface FetchedManifest {
  /** The manifest's bytes, as the registry sent them. */
  bytes: Uint8Array;
  /** Its media type: the response's Content-Type, else the manifest's own `mediaType`. */
  mediaType: string;
  /** Its digest, from the `Docker-Content-Digest` header (empty when the registry sent none). */
  digest: string;
}

/** An HTTP error from the registry. */
export class RegistryHttpError extends FlowymlError {
  readonly status: number;
  constructor(message: string, status: number, hint?: string) {
    super(message, { hint });
    this.name = "RegistryHttpError";
    this.status = status;
  }
}

function parseChallenge(
  h: string | null,
): { scheme: string; params: Record<string, string> } | undefined {
  if (!h) return undefined;
  const m = /^(\w+)\s*(.*)$/.exec(h.trim());
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2].matchAll(/(\w+)="([^"]*)"/g)) params[p[1]] = p[2];
  return { scheme: m[1].toLowerCase(), params };
}

/** Talks to one registry host. */
export class RegistryClient {
  /** Registry host, `host[:port]`. */
  readonly host: string;
  /** Base URL of the API: `https://<host>` (http if insecure; Docker Hub: registry-1.docker.io). */
  readonly base: string;
  readonly #opts: RegistryClientOptions;
  #basic?: string;
  #tokens = new Map<string, string>();
  #secrets: string[] = [];

  /** A client of `options.host`; nothing is contacted until the first request. */
  constructor(options: RegistryClientOptions) {
    this.#opts = options;
    this.host = options.host;
    // Docker Hub's API host differs from its image host.
    const api = options.host === "docker.io" ? "registry-1.docker.io" : options.host;
    this.base = `${options.insecure ? "http" : "https"}://${api}`;
  }

  #scheme: "none" | "basic" | "bearer" = "none";

  async #creds(): Promise<Credentials | undefined> {
    const c = await this.#opts.credentials?.();
    if (c) this.#secrets = [c.password];
    return c;
  }

  async #authorize(challenge: string | null, scope: string): Promise<boolean> {
    const ch = parseChallenge(challenge);
    if (!ch) return false;
    const creds = await this.#creds();
    if (ch.scheme === "basic") {
      if (!creds) return false;
      this.#basic = `Basic ${btoa(`${creds.username}:${creds.password}`)}`;
      this.#scheme = "basic";
      return true;
    }
    if (ch.scheme !== "bearer" || !ch.params.realm) return false;
    const url = new URL(ch.params.realm);
    if (ch.params.service) url.searchParams.set("service", ch.params.service);
    const sc = ch.params.scope ?? scope;
    if (sc) url.searchParams.set("scope", sc);
    const headers: Record<string, string> = {};
    if (creds) headers.authorization = `Basic ${btoa(`${creds.username}:${creds.password}`)}`;
    const res = await fetch(url, { headers });
    if (!res.ok) {
      await res.body?.cancel();
      throw new RegistryHttpError(
        `registry ${this.host}: token service ${url.origin}${url.pathname} refused the credentials (HTTP ${res.status})`,
        res.status,
        "check the registry username/password or access token",
      );
    }
    const j = await res.json();
    const token = j.token ?? j.access_token;
    if (!token) return false;
    this.#secrets.push(token);
    this.#tokens.set(scope, `Bearer ${token}`);
    this.#scheme = "bearer";
    return true;
  }

  #authHeader(scope: string): string | undefined {
    if (this.#scheme === "basic") return this.#basic;
    if (this.#scheme === "bearer") return this.#tokens.get(scope);
    return undefined;
  }

  /**
   * One request with auth and retries. `scope` is the token scope
   * (`repository:<name>:pull,push`). `body` must be re-creatable (a function)
   * to be retried.
   */
  async request(
    method: string,
    pathOrUrl: string,
    init: {
      scope: string;
      headers?: Record<string, string>;
      body?: () => BodyInit | Uint8Array | null;
      expect: number[];
    },
  ): Promise<Response> {
    const url = pathOrUrl.startsWith("http") ? pathOrUrl : `${this.base}${pathOrUrl}`;
    const what = `${method} ${url.replace(/([?&]_state=)[^&]+/, "$1…")}`;
    return await withRetry(async () => {
      for (let round = 0; round < 2; round++) {
        const headers: Record<string, string> = { ...(init.headers ?? {}) };
        const auth = this.#authHeader(init.scope);
        if (auth) headers.authorization = auth;
        let res: Response;
        try {
          res = await fetch(url, {
            method,
            headers,
            body: (init.body?.() ?? null) as BodyInit | null,
            redirect: "follow",
          });
        } catch (err) {
          if (isPermissionError(err)) {
            throw new MissingPermissionError(
              `registry ${this.host}: ${method}`,
              `--allow-net=${this.host}`,
              err,
            );
          }
          throw err;
        }
        if (res.status === 401) {
          const challenge = res.headers.get("www-authenticate");
          await res.body?.cancel();
          if (round === 0 && await this.#authorize(challenge, init.scope)) continue;
          const tried = round > 0;
          throw new RegistryHttpError(
            `registry ${this.host}: authentication required for ${what}` +
              (tried ? "; the credentials were not accepted" : ""),
            401,
            tried
              ? "check the registry username and password (or the auth flavor's token)"
              : "set username/password (or the auth flavor's token) in the container_registry config",
          );
        }
        if (!init.expect.includes(res.status)) {
          const text = redact((await res.text()).slice(0, 500), this.#secrets);
          const err = new RegistryHttpError(
            `registry ${this.host}: ${what} answered HTTP ${res.status}: ${text}`,
            res.status,
            res.status === 401 || res.status === 403
              ? "the credentials lack pull/push rights on this repository"
              : undefined,
          );
          throw err;
        }
        return res;
      }
      throw new RegistryHttpError(`registry ${this.host}: authentication failed for ${what}`, 401);
    }, {
      what: `registry ${this.host}: ${what}`,
      retries: this.#opts.maxRetries ?? 4,
      transient: (
        e,
      ) => (e instanceof RegistryHttpError ? e.status >= 500 || e.status === 429 : isTransient(e)),
      describe: (e) => redact((e as Error).message, this.#secrets),
      dropCause: true,
    }).catch((err) => {
      const net = err instanceof TypeError ||
        (err instanceof RetriesExhaustedError &&
          /connection refused|tcp connect|fetch failed/i.test(err.message));
      if (net) {
        throw new FlowymlError(
          `registry ${this.host} is unreachable at ${this.base}: ${err.message}`,
          {
            hint:
              "check the registry uri and that it is running (and `insecure: true` for plain http)",
          },
        );
      }
      throw err;
    });
  }

  /** True when the repository has the blob. */
  async hasBlob(repo: string, digest: string): Promise<boolean> {
    const res = await this.request("HEAD", `/v2/${repo}/blobs/${digest}`, {
      scope: `repository:${repo}:pull`,
      expect: [200, 404],
    });
    await res.body?.cancel();
    return res.status === 200;
  }

  /**
   * Upload a blob. `open(offset)` returns the blob's bytes from `offset`
   * (a file read, typically), so chunks can be retried without buffering the
   * whole blob. Blobs at most one chunk long go in one PUT.
   */
  async pushBlob(
    repo: string,
    digest: string,
    size: number,
    readChunk: (offset: number, length: number) => Promise<Uint8Array>,
  ): Promise<void> {
    const scope = `repository:${repo}:pull,push`;
    if (await this.hasBlob(repo, digest)) return;
    const start = await this.request("POST", `/v2/${repo}/blobs/uploads/`, {
      scope,
      expect: [202],
    });
    await start.body?.cancel();
    let location = this.#abs(start.headers.get("location"));
    const chunk = this.#opts.chunkSize ?? 16 << 20;
    if (size <= chunk) {
      const data = await readChunk(0, size);
      const res = await this.request("PUT", withQuery(location, "digest", digest), {
        scope,
        headers: { "content-type": "application/octet-stream", "content-length": String(size) },
        body: () => data,
        expect: [201],
      });
      await res.body?.cancel();
      return;
    }
    for (let off = 0; off < size; off += chunk) {
      const data = await readChunk(off, Math.min(chunk, size - off));
      const res = await this.request("PATCH", location, {
        scope,
        headers: {
          "content-type": "application/octet-stream",
          "content-length": String(data.byteLength),
          "content-range": `${off}-${off + data.byteLength - 1}`,
        },
        body: () => data,
        expect: [202],
      });
      await res.body?.cancel();
      location = this.#abs(res.headers.get("location"));
    }
    const done = await this.request("PUT", withQuery(location, "digest", digest), {
      scope,
      headers: { "content-length": "0" },
      expect: [201],
    });
    await done.body?.cancel();
  }

  #abs(location: string | null): string {
    if (!location) throw new FlowymlError(`registry ${this.host}: upload answer had no Location`);
    return new URL(location, this.base).href;
  }

  /** A blob's bytes as a stream. */
  async pullBlob(repo: string, digest: string): Promise<ReadableStream<Uint8Array>> {
    const res = await this.request("GET", `/v2/${repo}/blobs/${digest}`, {
      scope: `repository:${repo}:pull`,
      expect: [200],
    });
    return res.body!;
  }

  /** Put a manifest under a tag or digest; returns its digest. */
  async putManifest(
    repo: string,
    ref: string,
    bytes: Uint8Array,
    mediaType: string,
  ): Promise<string> {
    const res = await this.request("PUT", `/v2/${repo}/manifests/${ref}`, {
      scope: `repository:${repo}:pull,push`,
      headers: { "content-type": mediaType },
      body: () => bytes,
      expect: [201],
    });
    await res.body?.cancel();
    return res.headers.get("docker-content-digest") ?? "";
  }

  /** Get a manifest (or index) by tag or digest. */
  async getManifest(repo: string, ref: string): Promise<FetchedManifest> {
    const res = await this.request("GET", `/v2/${repo}/manifests/${ref}`, {
      scope: `repository:${repo}:pull`,
      headers: { accept: ACCEPT_MANIFESTS },
      expect: [200],
    });
    const bytes = new Uint8Array(await res.arrayBuffer());
    const mediaType = (res.headers.get("content-type") ?? "").split(";")[0] ||
      JSON.parse(new TextDecoder().decode(bytes)).mediaType;
    const digest = res.headers.get("docker-content-digest") ?? "";
    return { bytes, mediaType, digest };
  }

  /** Digest of a manifest by tag, or undefined when the tag does not exist. */
  async headManifest(repo: string, ref: string): Promise<string | undefined> {
    const res = await this.request("HEAD", `/v2/${repo}/manifests/${ref}`, {
      scope: `repository:${repo}:pull`,
      headers: { accept: ACCEPT_MANIFESTS },
      expect: [200, 404],
    });
    await res.body?.cancel();
    return res.status === 200 ? res.headers.get("docker-content-digest") ?? "" : undefined;
  }

  /** Tags of a repository. */
  async listTags(repo: string): Promise<string[]> {
    const res = await this.request("GET", `/v2/${repo}/tags/list`, {
      scope: `repository:${repo}:pull`,
      expect: [200, 404],
    });
    if (res.status === 404) {
      await res.body?.cancel();
      return [];
    }
    return ((await res.json()).tags ?? []) as string[];
  }

  /** Check the API answers (`GET /v2/`), authenticating if needed. */
  async ping(): Promise<void> {
    const res = await this.request("GET", "/v2/", { scope: "", expect: [200] });
    await res.body?.cancel();
  }
}

function withQuery(url: string, k: string, v: string): string {
  const u = new URL(url);
  u.searchParams.set(k, v);
  return u.href;
}
