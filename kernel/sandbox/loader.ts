/**
 * Loading a plugin: fetch (file or https URL, downloads cached by hash),
 * check the pinned sha256 before anything parses the bytes, check imports
 * against the allowlist (a bounded linear scan), have the instrumenter
 * process validate it and rewrite in the cooperative interrupt (prepare.ts:
 * off the event loop, budgeted, cached with an integrity manifest), then
 * cap the declared memory. The kernel never compiles untrusted bytes: the
 * plugin's own host process does.
 * @module
 */
import { dirname, join, resolve } from "node:path";
import { explainPermission } from "../errors.ts";
import { sha256Hex } from "../hash.ts";
import { PluginViolationError, SandboxError } from "./errors.ts";
import type { PluginConfig } from "./grants.ts";
import { clearPrepared, preparedBytes } from "./prepare.ts";
import { IMPORT_ALLOWLIST } from "./protocol.ts";
import {
  capMemory,
  listFunctionExports,
  listImports,
  readCustomSection,
  type WasmImport,
} from "./wasm_binary.ts";

/** Name of the custom section holding a plugin's manifest (JSON). */
export const MANIFEST_SECTION = "flowyml.manifest";

/** What a plugin says about itself (its `flowyml.manifest` custom section). */
export interface PluginManifest {
  /** Plugin name as built (may differ from its key under `plugins:`). */
  name?: string;
  /** Plugin version, e.g. `1.2.0`. */
  version?: string;
  /** Kind of component: `step`, `artifact_store` or `serializer`. */
  kind?: string;
  /** Operations (exports) it implements. */
  ops?: string[];
  /** Capabilities it asks for, in the grants format. */
  capabilities?: Record<string, unknown>;
  /** One-line summary shown by `flowyml plugins`. */
  description?: string;
}

/** A plugin ready to instantiate. */
export interface LoadedPlugin {
  /** Name under `plugins:` in `flowyml.yaml`. */
  name: string;
  /** Where the module came from: a file path or an `https://` URL. */
  source: string;
  /** sha256 of the original module bytes. */
  sha256: string;
  /** The module's manifest (`{}` when it has none). */
  manifest: PluginManifest;
  /** Host functions the module imports (all checked against the allowlist). */
  imports: WasmImport[];
  /** Names of the functions the module exports. */
  exports: string[];
  /** Memory cap in 64 KiB pages. */
  maxPages: number;
  /** The prepared module (instrumented, memory capped), compiled by the plugin's host process. */
  bytes: Uint8Array;
}

/** Options of {@linkcode loadPlugin}. */
export interface LoadOptions {
  /** Cache folder; default `$FLOWYML_HOME/plugins` or `.flowyml/plugins`. */
  cacheDir?: string;
}

/** The default plugin cache folder. */
export function defaultCacheDir(): string {
  let home: string | undefined;
  try {
    home = Deno.env.get("FLOWYML_HOME");
  } catch {
    // no env permission
  }
  return join(home || ".flowyml", "plugins");
}

async function readMaybe(path: string): Promise<Uint8Array | undefined> {
  try {
    return await Deno.readFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw explainPermission(err, `reading the plugin cache ${path}`);
  }
}

async function writeAtomic(path: string, data: Uint8Array): Promise<void> {
  try {
    await Deno.mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.${crypto.randomUUID()}.tmp`;
    await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (err) {
    throw explainPermission(err, `writing the plugin cache ${path}`);
  }
}

/**
 * The bytes of a plugin from a file path or an `https://` URL. With a pinned
 * `sha256`, a cached download is used without touching the network.
 */
export async function fetchPluginBytes(
  source: string,
  options: { sha256?: string; cacheDir?: string } = {},
): Promise<Uint8Array> {
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  if (/^https?:\/\//.test(source)) {
    if (source.startsWith("http://") && !/^http:\/\/(127\.0\.0\.1|localhost)[:/]/.test(source)) {
      throw new SandboxError(`plugin source ${source} is plain http`, {
        hint: "use an https:// URL",
      });
    }
    if (options.sha256) {
      const hit = await readMaybe(join(cacheDir, "blobs", `${options.sha256.toLowerCase()}.wasm`));
      if (hit && sha256Hex(hit) === options.sha256.toLowerCase()) return hit;
    }
    let res: Response;
    try {
      res = await fetch(source);
    } catch (err) {
      const e = explainPermission(err, `downloading plugin ${source}`);
      if (e !== err) throw e;
      throw new SandboxError(`could not download plugin ${source}: ${(err as Error).message}`);
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new SandboxError(`could not download plugin ${source}: HTTP ${res.status}`);
    }
    const bytes = new Uint8Array(await res.arrayBuffer());
    // Best effort: the least-privilege pipeline child may only read the cache.
    await writeAtomic(join(cacheDir, "blobs", `${sha256Hex(bytes)}.wasm`), bytes).catch(() => {});
    return bytes;
  }
  try {
    return await Deno.readFile(source.startsWith("file://") ? new URL(source) : resolve(source));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new SandboxError(`plugin file ${source} does not exist`, {
        hint: "check plugins.<name>.source",
      });
    }
    throw explainPermission(err, `reading plugin ${source}`);
  }
}

/** Refuse any import outside the allowlist (before the module is compiled). */
export function checkImports(name: string, imports: WasmImport[]): void {
  for (const i of imports) {
    const allowed = IMPORT_ALLOWLIST[i.module];
    if (i.kind !== "function" || !allowed || !allowed.includes(i.name)) {
      throw new PluginViolationError(
        name,
        "import",
        `${i.kind} import "${i.module}" "${i.name}" is not on the allowlist`,
        {
          hint: `plugins may import only: ${
            Object.entries(IMPORT_ALLOWLIST).map(([m, n]) => `${m} (${n.join(", ")})`).join("; ")
          }`,
        },
      );
    }
  }
}

/** The manifest custom section, or `{}`. */
export function readManifest(bytes: Uint8Array): PluginManifest {
  const raw = readCustomSection(bytes, MANIFEST_SECTION);
  if (!raw) return {};
  try {
    const m = JSON.parse(new TextDecoder().decode(raw));
    return m && typeof m === "object" ? m : {};
  } catch {
    throw new SandboxError(`the ${MANIFEST_SECTION} section is not valid JSON`);
  }
}

/** Options of {@linkcode preparePlugin}. */
export interface PrepareOptions extends LoadOptions {
  /** The plugin's configured source, pinned sha256 and grants. */
  config: Pick<PluginConfig, "source" | "sha256" | "grants">;
}

/**
 * Verify, check, instrument (in the instrumenter process) and cap a plugin.
 * Fills the prepared-module cache when it is writable: the parent `flowyml
 * run` calls this (through {@linkcode loadPlugin}) before it spawns the
 * least-privilege child, which may only read the cache; without a cache the
 * module is prepared in memory.
 */
export async function preparePlugin(
  name: string,
  bytes: Uint8Array,
  options: PrepareOptions,
): Promise<LoadedPlugin> {
  const { config } = options;
  const actual = sha256Hex(bytes);
  if (config.sha256 && config.sha256.toLowerCase() !== actual) {
    throw new PluginViolationError(
      name,
      "integrity",
      `sha256 mismatch for ${config.source}: flowyml.yaml pins ${config.sha256.toLowerCase()} but the file has ${actual}; refused before compilation`,
      {
        hint: "if you trust the new file, run `flowyml plugin inspect` and update plugins." + name +
          ".sha256",
      },
    );
  }
  const imports = listImports(bytes);
  checkImports(name, imports);
  const manifest = readManifest(bytes);
  const exports = listFunctionExports(bytes);
  const maxPages = Math.max(1, Math.floor(config.grants.memory / 65536));
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const prepared = await preparedBytes(name, bytes, { pin: actual, cacheDir });
  return {
    name,
    source: config.source,
    sha256: actual,
    manifest,
    imports,
    exports,
    maxPages,
    bytes: capMemory(prepared, maxPages),
  };
}

/**
 * Load the plugin `name` configured as `config`: fetch, verify the pin and
 * prepare it (see {@linkcode preparePlugin}; this is what the parent CLI
 * calls to fill the prepared-module cache before it spawns the child).
 */
export async function loadPlugin(
  name: string,
  config: Pick<PluginConfig, "source" | "sha256" | "grants">,
  options: LoadOptions = {},
): Promise<LoadedPlugin> {
  const bytes = await fetchPluginBytes(config.source, {
    sha256: config.sha256,
    cacheDir: options.cacheDir,
  });
  return preparePlugin(name, bytes, { ...options, config });
}

/** Forget prepared modules held in memory (tests, benches); the disk cache stays. */
export function clearCompiledPlugins(): void {
  clearPrepared();
}
