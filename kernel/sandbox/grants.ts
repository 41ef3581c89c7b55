/**
 * Plugin configuration from `flowyml.yaml` `plugins:` and the grants it
 * gives. Everything not granted is denied.
 *
 * ```yaml
 * plugins:
 *   normalize:
 *     source: https://plugins.example.com/normalize-1.2.0.wasm
 *     sha256: 3f1c…
 *     grants:
 *       artifacts: { read: ["datasets/*"], write: ["features/*"] }
 *       net: [api.example.com]
 *       env: []
 *       secrets: [{ name: API_KEY, hosts: [api.example.com] }]
 *       memory: 64Mi
 *       timeout: 30s
 * ```
 * @module
 */
import { z } from "zod";
import { ConfigError } from "../errors.ts";
import { formatZodIssues, type Schema } from "../schema.ts";
import { globMatch } from "./net_match.ts";

export { globMatch } from "./net_match.ts";

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  ki: 1024,
  kib: 1024,
  m: 1e6,
  mb: 1e6,
  mi: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1e9,
  gb: 1e9,
  gi: 1024 ** 3,
  gib: 1024 ** 3,
};

/** Parse `64Mi`, `1Gi`, `512KiB`, `100MB` or a number of bytes. */
export function parseSize(v: string | number): number {
  if (typeof v === "number") return v;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(v);
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new Error(`"${v}" is not a size (use e.g. 64Mi, 1Gi, 100MB)`);
  return Math.floor(Number(m[1]) * unit);
}

/** Parse `30s`, `500ms`, `2m`, `1h` or a number of milliseconds. */
export function parseDuration(v: string | number): number {
  if (typeof v === "number") return v;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(v);
  if (!m) throw new Error(`"${v}" is not a duration (use e.g. 500ms, 30s, 2m)`);
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? "ms"]!;
  return Math.round(Number(m[1]) * mult);
}

const size = z.union([z.string(), z.number().nonnegative()]).transform((v, ctx) => {
  try {
    return parseSize(v);
  } catch (e) {
    ctx.addIssue({ code: "custom", message: (e as Error).message });
    return z.NEVER;
  }
});
const duration = z.union([z.string(), z.number().positive()]).transform((v, ctx) => {
  try {
    return parseDuration(v);
  } catch (e) {
    ctx.addIssue({ code: "custom", message: (e as Error).message });
    return z.NEVER;
  }
});
const globs = z.array(z.string().min(1, "a pattern must not be empty")).default([]);

/** Parsed grants: what a plugin may do. Everything not granted is denied. */
export interface Grants {
  /** Artifact path globs the plugin may read and write. Default: none. */
  artifacts: { read: string[]; write: string[] };
  /** Host names (globs, optionally `host:port`) the plugin may call over HTTP(S). */
  net: string[];
  /** Environment variables the plugin may read. */
  env: string[];
  /**
   * Secrets (env vars) the plugin may use as opaque handles in HTTP headers to granted hosts:
   * the names (globs) of every entry, whether written as a plain string or as
   * `{ name, hosts }`.
   */
  secrets: string[];
  /**
   * Host binding of secrets written as `{ name: API_KEY, hosts: [api.example.com] }`: the
   * secret is only ever sent to these hosts (globs, optionally `host:port`), which must also be
   * in `net`. A secret written as a plain string may be sent to any host in `net`.
   */
  secret_hosts: Record<string, string[]>;
  /** Config values the plugin may read with `config.get` (own keys only). */
  config: Record<string, unknown>;
  /** Metadata: log metrics/params and read run info. */
  metadata: boolean;
  /** Registry: resolve images and components. */
  registry: boolean;
  /**
   * Orchestration: read step status of the current run; an orchestrator plugin
   * (`orchestrator: { type: wasm }`) also needs it to submit and await steps.
   */
  orchestration: boolean;
  /** Cap of the plugin's linear memory, bytes (config: `64Mi`, …). Default 64 MiB. */
  memory: number;
  /** Time limit of one call, ms (config: `30s`, `500ms`, …). Default 30 s. */
  timeout: number;
  /** Max total bytes the plugin may produce in one call (outputs and puts). Default 1 GiB. */
  max_output: number;
  /** Max size of one protocol message (JSON request), bytes. Default 1 MiB. */
  max_message: number;
}

/** Parsed plugin entry (`plugins.<name>` in `flowyml.yaml`). */
export interface PluginConfig {
  /** Path of a `.wasm` file or an `https://` URL. */
  source: string;
  /** Expected sha256 of the module (hex); loading fails on a mismatch. */
  sha256?: string;
  /** Default export to call for steps. */
  op?: string;
  /** What the plugin may do. Default: nothing. */
  grants: Grants;
  /** Free text describing the plugin. */
  description?: string;
}

const secretEntry = z.union([
  z.string().min(1, "a secret name must not be empty"),
  z.object({
    name: z.string().min(1, "a secret name must not be empty"),
    hosts: z.array(z.string().min(1, "a host must not be empty"))
      .min(1, "list the hosts this secret may be sent to (or write the name alone)"),
  }).strict(),
]);

const grantsFields = z.object({
  artifacts: z.object({ read: globs, write: globs }).strict().default({ read: [], write: [] }),
  net: globs,
  env: globs,
  secrets: z.array(secretEntry).default([]),
  config: z.record(z.string(), z.unknown()).default({}),
  metadata: z.boolean().default(false),
  registry: z.boolean().default(false),
  orchestration: z.boolean().default(false),
  memory: size.default(64 * 1024 ** 2),
  timeout: duration.default(30_000),
  max_output: size.default(1024 ** 3),
  max_message: size.default(1024 ** 2),
}).strict();

const grantsObject = grantsFields.transform((g, ctx): Grants => {
  const secret_hosts: Record<string, string[]> = Object.create(null);
  const secrets: string[] = [];
  for (const [i, s] of g.secrets.entries()) {
    if (typeof s === "string") {
      secrets.push(s);
      continue;
    }
    secrets.push(s.name);
    secret_hosts[s.name] = s.hosts;
    const outside = s.hosts.filter((h) => !g.net.some((n) => n === h || globMatch(n, h)));
    if (outside.length) {
      ctx.addIssue({
        code: "custom",
        path: ["secrets", i, "hosts"],
        message: `secret ${s.name} is bound to ${
          outside.join(", ")
        }, which grants.net does not allow; add them to net or remove them here`,
      });
    }
  }
  // config keys are looked up as own properties only; a null prototype keeps it that way.
  const config = Object.assign(Object.create(null), g.config) as Record<string, unknown>;
  return { ...g, secrets, secret_hosts, config };
});

/** Schema of `grants:`; parses sizes and durations to bytes and ms (output: {@linkcode Grants}). */
export const grantsSchema: Schema<Grants> = grantsObject;

const pluginConfigObject = z.object({
  source: z.string().min(1, "source must name a .wasm file or an https:// URL"),
  sha256: z.string().regex(/^[0-9a-f]{64}$/i, "sha256 must be 64 hex digits").optional(),
  op: z.string().optional(),
  grants: grantsObject.default(() => grantsObject.parse({})),
  description: z.string().optional(),
}).strict();

/** Schema of one `plugins.<name>` entry (output: {@linkcode PluginConfig}). */
export const pluginConfigSchema: Schema<PluginConfig> = pluginConfigObject;

/** Validate `plugins.<name>`; errors name the key path (`plugins.x.grants.memory: …`). */
export function parsePluginConfig(name: string, raw: unknown, file = "flowyml.yaml"): PluginConfig {
  const r = pluginConfigSchema.safeParse(raw);
  if (!r.success) {
    throw new ConfigError(`${file}: ${formatZodIssues(r.error, `plugins.${name}`)}`, {
      hint: "see docs/sandbox.md for the plugin grants format",
    });
  }
  return r.data;
}

/** Grants with every default (nothing granted). */
export function denyAll(): Grants {
  return grantsSchema.parse({});
}

/** A normalized artifact path, or an error message when it is unsafe. */
export function checkArtifactPath(path: unknown): { path: string } | { error: string } {
  if (typeof path !== "string" || !path) return { error: "path must be a non-empty string" };
  if (path.length > 1024) return { error: "path is longer than 1024 characters" };
  if (path.startsWith("/") || path.includes("\\") || path.includes("\0")) {
    return { error: `path "${path}" must be relative, with / separators` };
  }
  const parts = path.split("/");
  if (parts.some((p) => p === ".." || p === "." || p === "")) {
    return { error: `path "${path}" has an empty, . or .. segment` };
  }
  return { path };
}

/** True when one of `patterns` matches. */
export function anyMatch(patterns: readonly string[], value: string): boolean {
  return patterns.some((p) => globMatch(p, value));
}
