/**
 * `flowyml.yaml`: stacks, the default stack, resource profiles and plugins.
 *
 * Strings may use `${VAR}` and `${VAR:-default}`; `$${` writes a literal `${`.
 * An unset variable without a default is an error naming the variable, the
 * file and the key — it is never left as literal text.
 * @module
 */
// @ts-types="@types/js-yaml"
import { load as parseYaml } from "js-yaml";
import { COMPONENT_KINDS, type ComponentKind, type ResourceConfig } from "./component.ts";
import { ConfigError, isPermissionError } from "./errors.ts";
import { formatZodIssues } from "./schema.ts";
import { checkConfigShape } from "./config_check.ts";
import { CONFIG_FILE, findConfigFile, projectRelative, warnStrayProject } from "./project.ts";

export { findConfigFile } from "./project.ts";

/** One component's config: its registry `type` plus options. */
export interface ComponentConfig {
  /** Registry type of the component, e.g. `local`, `sqlite`, `s3`. */
  type: string;
  /** Component-specific options, checked against the type's config schema. */
  [option: string]: unknown;
}

/** One stack: a component config per kind. */
export interface StackConfig {
  /** Informational stack type (`local`, `gcp`, …); components it leaves out are the local ones. */
  type?: string;
  /** Orchestrator config (default: `local`). */
  orchestrator?: ComponentConfig;
  /** Artifact store config (default: `local`). */
  artifact_store?: ComponentConfig;
  /** Metadata store config (default: `sqlite`). */
  metadata_store?: ComponentConfig;
  /** Container registry config; the stack has none when left out. */
  container_registry?: ComponentConfig;
  /** Executor config (default: `local`). */
  executor?: ComponentConfig;
}

/** The parsed, interpolated `flowyml.yaml`. */
export interface FlowymlConfig {
  /** Stack used when none is named; when unset, the embedded `local` stack. */
  default_stack?: string;
  /** Stacks by name. */
  stacks: Record<string, StackConfig>;
  /** Named resource settings from `resources:`. */
  resources: Record<string, ResourceConfig>;
  /** Plugins: WASM sandboxed ones (with grants) and trusted module ones. */
  plugins: Record<string, Record<string, unknown>>;
  /** Path of the file this came from, if any. */
  path?: string;
}

/** The embedded default stack: in-process, local files and SQLite under `./.flowyml/`. */
export function defaultLocalStack(home = ".flowyml"): StackConfig {
  return {
    type: "local",
    orchestrator: { type: "local" },
    executor: { type: "local" },
    artifact_store: { type: "local", path: `${home}/artifacts` },
    metadata_store: { type: "sqlite", path: `${home}/metadata.db` },
  };
}

/** Options of {@linkcode interpolate}. */
export interface InterpolateOptions {
  /** Where the value came from, for messages (file name). */
  file?: string;
  /** Variable lookup; defaults to `Deno.env.get`. */
  env?: (name: string) => string | undefined;
}

function readEnv(name: string, where: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch (err) {
    if (isPermissionError(err)) {
      throw new ConfigError(
        `${where} uses \${${name}}, but reading environment variables is not allowed`,
        {
          hint: `run again with --allow-env=${name}`,
          cause: err,
        },
      );
    }
    throw err;
  }
}

/** Replace `${VAR}` / `${VAR:-default}` in every string of `value`. */
export function interpolate(
  value: unknown,
  options: InterpolateOptions = {},
  path: string[] = [],
): unknown {
  if (typeof value === "string") {
    const where = `${options.file ?? "config"} at ${path.join(".") || "(root)"}`;
    return value.replace(/\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}/g, (m, name, def) => {
      if (m === "$${") return "${";
      const v = options.env ? options.env(name) : readEnv(name, where);
      if (v !== undefined && v !== "") return v;
      if (def !== undefined) return def;
      throw new ConfigError(`${where}: environment variable ${name} is not set`, {
        hint: `export ${name}=…, or give a default: \${${name}:-value}`,
      });
    });
  }
  if (Array.isArray(value)) {
    return value.map((v, i) => interpolate(v, options, [...path, String(i)]));
  }
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolate(v, options, [...path, k]);
    return out;
  }
  return value;
}

/** Parse and validate config text. */
export function parseConfig(text: string, options: InterpolateOptions = {}): FlowymlConfig {
  const file = options.file ?? "flowyml.yaml";
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (err) {
    throw new ConfigError(`${file} is not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  const issues = checkConfigShape(raw);
  if (issues.length) {
    throw new ConfigError(`${file}: ${formatZodIssues({ issues })}`, {
      hint: "see docs/config.md for the format",
    });
  }
  const given = raw as Partial<Omit<FlowymlConfig, "path">>;
  const data = {
    default_stack: given.default_stack,
    stacks: given.stacks ?? {},
    resources: given.resources ?? {},
    plugins: given.plugins ?? {},
  };
  const { stacks, errors } = interpolateStacks(data.stacks, { ...options, file });
  const resources = interpolate(data.resources, { ...options, file }, ["resources"]) as Record<
    string,
    ResourceConfig
  >;
  const plugins = interpolate(data.plugins, { ...options, file }, ["plugins"]) as Record<
    string,
    Record<string, unknown>
  >;
  const named = (n: string) => n in stacks || errors.has(n) || n === "local";
  if (data.default_stack && !named(data.default_stack)) {
    throw new ConfigError(
      `${file}: default_stack "${data.default_stack}" is not defined under stacks`,
      {
        hint: `define it, or use one of: ${Object.keys(stacks).join(", ") || "local"}`,
      },
    );
  }
  const config = {
    default_stack: data.default_stack,
    stacks,
    resources,
    plugins,
    path: options.file,
  };
  if (errors.size) unavailable.set(config, errors);
  return config;
}

/** Stacks whose `${VAR}`s could not be filled, per config: the error, raised when one is used. */
const unavailable = new WeakMap<FlowymlConfig, Map<string, ConfigError>>();

/**
 * Each stack interpolated on its own: one whose variable is unset (a production stack's secret
 * on a laptop) is left out of `stacks` with its error, so the other stacks still work.
 */
function interpolateStacks(
  raw: Record<string, unknown>,
  options: InterpolateOptions,
): { stacks: Record<string, StackConfig>; errors: Map<string, ConfigError> } {
  const stacks: Record<string, StackConfig> = {};
  const errors = new Map<string, ConfigError>();
  for (const [name, value] of Object.entries(raw)) {
    try {
      stacks[name] = interpolate(value, options, ["stacks", name]) as StackConfig;
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      errors.set(name, err);
    }
  }
  return { stacks, errors };
}

/**
 * Why stack `name` of `config` cannot be used (an unset `${VAR}` in it, or no permission to
 * read one), if so; using it ({@linkcode stackConfig}) throws this error.
 */
export function stackConfigError(config: FlowymlConfig, name: string): ConfigError | undefined {
  return unavailable.get(config)?.get(name);
}

/** Every stack name of `config`: the embedded `local`, the usable ones and the unavailable ones. */
export function stackNames(config: FlowymlConfig): string[] {
  const all = ["local", ...Object.keys(config.stacks), ...unavailable.get(config)?.keys() ?? []];
  return all.filter((v, i, a) => a.indexOf(v) === i);
}

/**
 * Where the config file is: `$FLOWYML_CONFIG`, else the nearest
 * `flowyml.yaml` in the current folder or one of its parents (as git and deno
 * find theirs; see {@linkcode findConfigFile}), else `./flowyml.yaml`.
 */
export function configPath(): string {
  let p: string | undefined;
  try {
    p = Deno.env.get("FLOWYML_CONFIG");
  } catch {
    // no env permission: use the default path
  }
  return p || findConfigFile() || "flowyml.yaml";
}

/**
 * Load `flowyml.yaml` (or the given path). A missing file gives an empty
 * config with only the embedded `local` stack.
 */
export async function loadConfig(
  path: string = configPath(),
  options: Omit<InterpolateOptions, "file"> = {},
): Promise<FlowymlConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      if (path === CONFIG_FILE) warnStrayProject();
      return { stacks: {}, resources: {}, plugins: {} };
    }
    if (isPermissionError(err)) {
      throw new ConfigError(`cannot read ${path}: permission denied`, {
        hint: `run again with --allow-read=${path}`,
        cause: err,
      });
    }
    throw err;
  }
  return parseConfig(text, { ...options, file: path });
}

/** The config of a named stack, with the `local` template filled in. */
export function stackConfig(config: FlowymlConfig, name: string): StackConfig {
  const broken = stackConfigError(config, name);
  if (broken) throw broken;
  const s = config.stacks[name];
  if (!s) {
    if (name === "local") return projectRelative(defaultLocalStack(), config.path);
    const known = stackNames(config);
    throw new ConfigError(`no stack named "${name}"${config.path ? ` in ${config.path}` : ""}`, {
      hint: `use one of: ${known.join(", ")}`,
    });
  }
  // Any component a stack leaves out is the local one.
  const base = defaultLocalStack();
  const out: StackConfig = { ...s };
  for (const k of COMPONENT_KINDS as readonly ComponentKind[]) {
    if (!out[k] && base[k]) out[k] = base[k];
  }
  return projectRelative(out, config.path);
}

/**
 * The stack a command uses: `name` when given, else the config's
 * `default_stack`, else the embedded `local` stack.
 */
export function stackNameOf(config: Pick<FlowymlConfig, "default_stack">, name?: string): string {
  return name ?? config.default_stack ?? "local";
}
