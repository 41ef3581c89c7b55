/**
 * `OCIContainerRegistry` (`type: oci`) and its presets `gcr`, `ecr`,
 * `dockerhub`: push and pull images over the OCI Distribution API with
 * `fetch`, no Docker daemon. Images live locally as OCI image layouts under
 * `image_store/<name>` (what `flowyml image build` writes).
 * @module
 */
import { join } from "node:path";
import { ContainerRegistry } from "../../kernel/contracts.ts";
import type { PermissionNeeds } from "../../kernel/component.ts";
import type { Schema } from "../../kernel/schema.ts";
import { ConfigError, FlowymlError } from "../../kernel/errors.ts";
import {
  optionalEnv,
  resolveSecret,
  secretPermissions,
  secretRef,
  type SecretValue,
} from "../s3/secrets.ts";
import {
  type AuthFlavor,
  type OCIRegistryConfig,
  type OCIRegistryOptions,
  ociRegistrySchema,
  splitRegistryUri,
} from "./config.ts";
import { type Credentials, MEDIA, RegistryClient, RegistryHttpError } from "./client.ts";
import { ecrLogin, ecrRegionOf } from "./ecr.ts";
import { type Descriptor, OciLayout } from "./layout.ts";

/** An image manifest (OCI or Docker v2). */
export interface ImageManifest {
  /** Manifest schema version (2). */
  schemaVersion: number;
  /** The manifest's media type (`MEDIA.ociManifest` or `MEDIA.dockerManifest`). */
  mediaType?: string;
  /** The image config blob. */
  config: Descriptor;
  /** The layer blobs, base layer first. */
  layers: Descriptor[];
  /** Arbitrary metadata. */
  annotations?: Record<string, string>;
}

/** Pushes and pulls images to an OCI Distribution registry. */
export class OCIContainerRegistry extends ContainerRegistry {
  /** The `type:` of this registry in flowyml.yaml (the presets override it). */
  static readonly type: string = "oci";
  /** Validates a registry config (the same for `oci` and its presets) before it is built. */
  static readonly configSchema: Schema<OCIRegistryConfig> = ociRegistrySchema;
  /** Auth flavor used when the config gives none. */
  static readonly defaultAuth: AuthFlavor | undefined = undefined;
  readonly #cfg: OCIRegistryConfig;
  /** Registry host (`host[:port]`). */
  readonly host: string;
  /** Namespace under the host (`team`, `my-project`), may be empty. */
  readonly namespace: string;
  /** Auth flavor in use. */
  readonly auth: AuthFlavor;
  /** Whether the registry is spoken to over plain http (`insecure`; default: only a local host). */
  readonly insecure: boolean;
  #client?: RegistryClient;
  #cached?: { creds: Credentials; until: number };

  /**
   * Validate `options`; nothing is contacted and no secret resolved until first use. Throws
   * `ConfigError` on bad options.
   */
  constructor(options: OCIRegistryOptions) {
    const cls = new.target as unknown as typeof OCIContainerRegistry;
    const parsed = ociRegistrySchema.safeParse(options ?? {});
    if (!parsed.success) {
      throw new ConfigError(
        `${cls.type} container registry: invalid options: ${(parsed.error as Error).message}`,
      );
    }
    super(parsed.data.name ?? cls.type);
    this.#cfg = parsed.data;
    const { host, namespace } = splitRegistryUri(this.#cfg.uri);
    this.host = host;
    this.namespace = namespace;
    this.auth = this.#cfg.auth ?? cls.defaultAuth ??
      (this.#cfg.username !== undefined ? "basic" : "none");
    this.insecure = this.#cfg.insecure ??
      /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/.test(host);
  }

  /** The registry type of this instance (`oci`, `gcr`, `ecr` or `dockerhub`). */
  get type(): string {
    return (this.constructor as typeof OCIContainerRegistry).type;
  }

  /** Repository path of an image name inside the registry. */
  repository(name: string): string {
    const ns = this.namespace ||
      (this.host === "docker.io" && !name.includes("/") ? "library" : "");
    return ns ? `${ns}/${name}` : name;
  }

  /** `host/<repository>:tag`, the name Docker and Kubernetes pull. */
  override getImageUri(name: string, tag: string): string {
    return `${this.host}/${this.repository(name)}:${tag}`;
  }

  /** Local OCI layout of an image name: `image_store/<name>`. */
  layout(name: string): OciLayout {
    return new OciLayout(join(this.#cfg.image_store, name));
  }

  /** The config without secrets: credentials appear only as `{ env }` / `{ file }` references. */
  override toDict(): Record<string, unknown> {
    const c = this.#cfg;
    const out: Record<string, unknown> = {
      type: this.type,
      uri: c.uri,
      auth: this.auth,
      insecure: this.insecure,
      image_store: c.image_store,
      chunk_size_mb: c.chunk_size_mb,
    };
    if (c.aws_region) out.aws_region = c.aws_region;
    for (
      const k of [
        "username",
        "password",
        "token",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
      ] as const
    ) {
      const ref = secretRef(c[k] as SecretValue | undefined);
      if (ref) out[k] = ref;
    }
    return out;
  }

  /**
   * Net access to the registry (plus Docker Hub's token service or the ECR API per auth flavor),
   * read and write of `image_store`, and the env or files the credentials come from.
   */
  override permissions(): PermissionNeeds {
    const c = this.#cfg;
    const needs: PermissionNeeds = {
      net: [this.host === "docker.io" ? "registry-1.docker.io" : this.host],
      read: [c.image_store],
      write: [c.image_store],
      env: [],
    };
    for (const k of ["username", "password", "token"] as const) secretPermissions(c[k], needs);
    if (this.auth === "dockerhub") needs.net!.push("auth.docker.io");
    if (this.auth === "gcr") {
      if (!c.token) needs.env!.push("GOOGLE_OAUTH_ACCESS_TOKEN", "GOOGLE_APPLICATION_CREDENTIALS");
    }
    if (this.auth === "ecr") {
      needs.net!.push(`api.ecr.${this.#ecrRegion()}.amazonaws.com`);
      const d = {
        aws_access_key_id: "AWS_ACCESS_KEY_ID",
        aws_secret_access_key: "AWS_SECRET_ACCESS_KEY",
        aws_session_token: "AWS_SESSION_TOKEN",
      } as const;
      for (const [k, env] of Object.entries(d) as [keyof typeof d, string][]) {
        if (c[k] === undefined) needs.env!.push(env);
        else secretPermissions(c[k], needs);
      }
    }
    return needs;
  }

  #ecrRegion(): string {
    return this.#cfg.aws_region ?? ecrRegionOf(this.host) ?? "us-east-1";
  }

  /** Credentials for the registry per auth flavor (fetched tokens are cached). */
  async #credentials(): Promise<Credentials | undefined> {
    if (this.#cached && this.#cached.until > Date.now()) return this.#cached.creds;
    const c = this.#cfg;
    const w = `${this.type} container registry "${this.name}"`;
    switch (this.auth) {
      case "none":
        return undefined;
      case "basic":
      case "dockerhub": {
        const username = await resolveSecret(c.username, `${w}: username`);
        const password = await resolveSecret(c.password, `${w}: password`);
        if (username === undefined || password === undefined) {
          if (this.auth === "dockerhub") return undefined; // anonymous pulls
          throw new ConfigError(`${w}: auth "basic" needs username and password`, {
            hint: "set username: and password: (e.g. password: { env: REGISTRY_PASSWORD })",
          });
        }
        return { username, password };
      }
      case "gcr": {
        let token = await resolveSecret(c.token, `${w}: token`) ??
          optionalEnv("GOOGLE_OAUTH_ACCESS_TOKEN");
        if (!token) token = await adcAccessToken(w);
        const creds = { username: "oauth2accesstoken", password: token };
        this.#cached = { creds, until: Date.now() + 30 * 60_000 };
        return creds;
      }
      case "ecr": {
        const accessKeyId = await resolveSecret(c.aws_access_key_id, `${w}: aws_access_key_id`) ??
          optionalEnv("AWS_ACCESS_KEY_ID");
        const secretAccessKey =
          await resolveSecret(c.aws_secret_access_key, `${w}: aws_secret_access_key`) ??
            optionalEnv("AWS_SECRET_ACCESS_KEY");
        const sessionToken = await resolveSecret(c.aws_session_token, `${w}: aws_session_token`) ??
          optionalEnv("AWS_SESSION_TOKEN");
        if (!accessKeyId || !secretAccessKey) {
          throw new ConfigError(`${w}: auth "ecr" needs AWS credentials`, {
            hint: "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and --allow-env for them), " +
              "or aws_access_key_id / aws_secret_access_key in the config",
          });
        }
        const login = await ecrLogin(
          { accessKeyId, secretAccessKey, sessionToken },
          this.#ecrRegion(),
        );
        const creds = { username: login.username, password: login.password };
        this.#cached = { creds, until: (login.expiresAt ?? Date.now() + 3600_000) - 5 * 60_000 };
        return creds;
      }
    }
  }

  /** The Distribution API client of this registry, created on first use. */
  client(): RegistryClient {
    this.#client ??= new RegistryClient({
      host: this.host,
      insecure: this.insecure,
      credentials: () => this.#credentials(),
      maxRetries: this.#cfg.max_retries,
      chunkSize: this.#cfg.chunk_size_mb << 20,
    });
    return this.#client;
  }

  /** Reach the registry's `/v2/` endpoint with the configured auth. */
  override async validate(): Promise<boolean> {
    try {
      await this.client().ping();
    } catch (err) {
      if (err instanceof RegistryHttpError && err.status === 401) {
        throw new ConfigError(`${this.type} container registry "${this.name}": ${err.message}`, {
          hint: this.auth === "none"
            ? "the registry requires auth: set auth: basic with username/password"
            : "check the credentials",
        });
      }
      throw err;
    }
    return true;
  }

  /**
   * Push the local image `name:tag` (from `image_store/<name>`); returns
   * `host/repo:tag@sha256:…`.
   */
  override async pushImage(name: string, tag: string): Promise<string> {
    const layout = this.layout(name);
    const desc = await layout.getRef(tag);
    if (!desc) {
      throw new FlowymlError(`no local image ${name}:${tag} in ${layout.root}`, {
        hint: "build it first with `flowyml image build`, or pull it",
      });
    }
    const digest = await this.#pushFromLayout(layout, desc, this.repository(name), tag);
    return `${this.getImageUri(name, tag)}@${digest}`;
  }

  /** Push a manifest and its blobs from a layout to `repo:tag`; returns the manifest digest. */
  async #pushFromLayout(
    layout: OciLayout,
    desc: Descriptor,
    repo: string,
    tag: string,
  ): Promise<string> {
    const client = this.client();
    const manifestBytes = await layout.readBlob(desc.digest);
    const manifest = JSON.parse(new TextDecoder().decode(manifestBytes)) as ImageManifest;
    for (const blob of [manifest.config, ...manifest.layers]) {
      await client.pushBlob(
        repo,
        blob.digest,
        blob.size,
        (off, len) => layout.readChunk(blob.digest, off, len),
      );
    }
    const got = await client.putManifest(repo, tag, manifestBytes, desc.mediaType);
    if (got && got !== desc.digest) {
      throw new FlowymlError(
        `registry ${this.host} stored manifest ${got}, expected ${desc.digest}`,
      );
    }
    return desc.digest;
  }

  /** Pull `name:tag` into the local layout (linux/amd64 from a multi-platform index). */
  override async pullImage(name: string, tag: string): Promise<void> {
    await this.pullToLayout(this.repository(name), tag, this.layout(name), tag);
  }

  /** Fetch an image manifest by reference, resolving an index to one platform. */
  async #resolveManifest(
    repo: string,
    ref: string,
    platform = { os: "linux", architecture: "amd64" },
  ): Promise<{ manifest: ImageManifest; bytes: Uint8Array; mediaType: string; digest: string }> {
    const client = this.client();
    let m = await client.getManifest(repo, ref);
    if (m.mediaType === MEDIA.ociIndex || m.mediaType === MEDIA.dockerList) {
      const index = JSON.parse(new TextDecoder().decode(m.bytes)) as { manifests: Descriptor[] };
      const pick = index.manifests.find((d) =>
        d.platform?.os === platform.os && d.platform?.architecture === platform.architecture
      );
      if (!pick) {
        throw new FlowymlError(
          `${this.host}/${repo}:${ref} has no ${platform.os}/${platform.architecture} image`,
        );
      }
      m = await client.getManifest(repo, pick.digest);
    }
    const digest = `sha256:${await sha256Hex(m.bytes)}`;
    return {
      manifest: JSON.parse(new TextDecoder().decode(m.bytes)),
      bytes: m.bytes,
      mediaType: m.mediaType,
      digest,
    };
  }

  /** Copy `repo:ref` into `layout` under `tag`, verifying every digest. */
  async pullToLayout(
    repo: string,
    ref: string,
    layout: OciLayout,
    tag: string,
  ): Promise<Descriptor> {
    await layout.init();
    const { manifest, bytes, mediaType } = await this.#resolveManifest(repo, ref);
    for (const blob of [manifest.config, ...manifest.layers]) {
      if (await layout.hasBlob(blob.digest)) continue;
      await layout.writeBlobStream(await this.client().pullBlob(repo, blob.digest), blob.digest);
    }
    const { digest, size } = await layout.writeBlob(bytes);
    const desc = { mediaType, digest, size };
    await layout.setRef(tag, desc);
    return desc;
  }
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const { createHash } = await import("node:crypto");
  return createHash("sha256").update(bytes).digest("hex");
}

/** An OAuth access token from Application Default Credentials (google-auth-library). */
async function adcAccessToken(where: string): Promise<string> {
  try {
    const { GoogleAuth } = await import("google-auth-library");
    const auth = new GoogleAuth({ scopes: ["https://www.googleapis.com/auth/cloud-platform"] });
    const token = await auth.getAccessToken();
    if (!token) throw new Error("no token returned");
    return token;
  } catch (err) {
    throw new ConfigError(
      `${where}: no OAuth access token for gcr auth: ${(err as Error).message}`,
      {
        hint:
          "set token: { env: GOOGLE_OAUTH_ACCESS_TOKEN } (e.g. from `gcloud auth print-access-token`) " +
          "or configure Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS)",
      },
    );
  }
}

/** Google Container Registry / Artifact Registry: OAuth access token as password. */
export class GCRContainerRegistry extends OCIContainerRegistry {
  /** The `type:` of this registry in flowyml.yaml. */
  static override readonly type: string = "gcr";
  /** `gcr`: an OAuth2 access token as password. */
  static override readonly defaultAuth: AuthFlavor = "gcr";
}

/** Amazon ECR: registry password from ECR GetAuthorizationToken. */
export class ECRContainerRegistry extends OCIContainerRegistry {
  /** The `type:` of this registry in flowyml.yaml. */
  static override readonly type: string = "ecr";
  /** `ecr`: a password from ECR GetAuthorizationToken, fetched with AWS credentials. */
  static override readonly defaultAuth: AuthFlavor = "ecr";
}

/** Docker Hub: token auth (anonymous pulls without credentials). */
export class DockerHubRegistry extends OCIContainerRegistry {
  /** The `type:` of this registry in flowyml.yaml. */
  static override readonly type: string = "dockerhub";
  /** `dockerhub`: Bearer token auth; anonymous (pulls only) without credentials. */
  static override readonly defaultAuth: AuthFlavor = "dockerhub";
}
