/**
 * The import map of a pipeline run in the CLI's least-privilege child: the
 * user's project `deno.json` `imports` (and `scopes`) for the pipeline and
 * its modules, flowyml's own for flowyml's modules. Deno reads the config of
 * the entry module's folder, which for `flowyml run` is flowyml's: without
 * this, a pipeline could not import what its project maps (`"mylib":
 * "./lib.ts"`, `"ms": "npm:ms@2.1.3"`). The map is written to a private
 * temporary folder the child cannot write (`--import-map`), removed after it.
 * @module
 */
import { ConfigError } from "../kernel/errors.ts";
import { dirname, join, pathToFileURL, resolve } from "../kernel/_path.ts";
import { findUp } from "../kernel/project.ts";
import { installConfig, installRoot } from "./install.ts";

/** An import map written for one child, and how to remove it. */
export interface ProjectImportMap {
  /** The map's file, for `--import-map`. */
  path: string;
  /** The project config it was built from. */
  source: string;
  /** Remove the map's folder. */
  remove(): Promise<void>;
}

/** An import map: bare names to URLs, and per-folder overrides. */
export interface ImportMap {
  /** Bare specifiers (or `name/` prefixes) to URLs. */
  imports?: Record<string, string>;
  /** Per-folder `imports`, by the folder's URL. */
  scopes?: Record<string, Record<string, string>>;
}

/** The nearest `deno.json` / `deno.jsonc` at or above `file`'s folder, unless it is flowyml's own. */
export function projectConfigOf(file: string): string | undefined {
  return findUp(dirname(resolve(file)), ["deno.json", "deno.jsonc"], { stop: installRoot() });
}

/** A project's own import map, and the config file it was read from. */
export interface ProjectImports {
  /** The project's `deno.json` (or `deno.jsonc`). */
  source: string;
  /** Its `imports` and `scopes`, resolved against its folder. */
  map: ImportMap;
}

/**
 * The import map of the project of `file` (a pipeline module, or any file of the project):
 * `undefined` when it has no config of its own, or one that maps nothing.
 */
export async function projectImports(file: string): Promise<ProjectImports | undefined> {
  const source = projectConfigOf(file);
  if (!source) return undefined;
  const map = await readImportMap(source);
  const empty = !Object.keys(map.imports ?? {}).length && !Object.keys(map.scopes ?? {}).length;
  return empty ? undefined : { source, map };
}

/**
 * Write the import map of a child: `project`'s for the project's modules, flowyml's own under
 * flowyml's folder. `undefined` when flowyml does not run from files.
 */
export async function writeProjectImportMap(
  project: ProjectImports,
): Promise<ProjectImportMap | undefined> {
  const own = await installConfig();
  if (!own) return undefined;
  const { source, map: projectMap } = project;
  const flowyml = await readImportMap(own);
  const ownImports = flowyml.imports ?? {};
  // flowyml's entry points stay available under their names unless the project maps them.
  const entries = Object.fromEntries(
    Object.entries(ownImports).filter(([k]) => k === "flowyml" || k.startsWith("flowyml/")),
  );
  const map: ImportMap = {
    imports: { ...entries, ...projectMap.imports },
    scopes: { ...projectMap.scopes, [pathToFileURL(`${installRoot()}/`).href]: ownImports },
  };
  const dir = await Deno.makeTempDir({ prefix: "flowyml-imports-" });
  const path = join(dir, "import_map.json");
  await Deno.writeTextFile(path, JSON.stringify(map, null, 2));
  return { path, source, remove: () => Deno.remove(dir, { recursive: true }).catch(() => {}) };
}

/** A config's `imports` and `scopes`, resolved against its folder, npm/jsr names with subpaths. */
async function readImportMap(config: string): Promise<ImportMap> {
  const text = await Deno.readTextFile(config);
  let data: ImportMap & { importMap?: string };
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${config} is not plain JSON (${(err as Error).message})`, {
      hint: "flowyml reads the project's import map from it for `flowyml run`: remove comments " +
        "and trailing commas (or move the imports to a deno.json)",
    });
  }
  const base = pathToFileURL(config);
  const resolved = (m: Record<string, string> = {}) => withSubpaths(absolute(m, base));
  const scopes = Object.fromEntries(
    Object.entries(data.scopes ?? {}).map(([s, m]) => [new URL(s, base).href, resolved(m)]),
  );
  return { imports: resolved(data.imports), scopes };
}

/** Relative targets (`./lib.ts`) as absolute URLs against the config's location. */
function absolute(m: Record<string, string>, base: URL): Record<string, string> {
  return Object.fromEntries(
    Object.entries(m).map(([k, v]) => [k, /^\.{0,2}\//.test(v) ? new URL(v, base).href : v]),
  );
}

/**
 * As Deno does for a config's `imports`: `"ms": "npm:ms@2"` also maps `ms/…` to the package's
 * files (`npm:/ms@2/…`); an import map file needs that entry written out.
 */
function withSubpaths(m: Record<string, string>): Record<string, string> {
  const out = { ...m };
  for (const [k, v] of Object.entries(m)) {
    const pkg = /^(npm|jsr):\/?(.+)$/.exec(v);
    if (!pkg || k.endsWith("/") || `${k}/` in out) continue;
    out[`${k}/`] = `${pkg[1]}:/${pkg[2].replace(/\/$/, "")}/`;
  }
  return out;
}

/**
 * How the project's import map resolves the bare specifier `spec` imported by `importer` (the
 * import map rules: the longest matching scope, then `imports`; an exact key, else the longest
 * `key/` prefix), or `undefined`.
 */
export function resolveMapped(map: ImportMap, spec: string, importer: string): string | undefined {
  const scopes = Object.keys(map.scopes ?? {}).filter((s) => importer.startsWith(s))
    .sort((a, b) => b.length - a.length);
  for (const m of [...scopes.map((s) => map.scopes![s]), map.imports ?? {}]) {
    if (spec in m) return m[spec];
    const prefix = Object.keys(m).filter((k) => k.endsWith("/") && spec.startsWith(k))
      .sort((a, b) => b.length - a.length)[0];
    if (prefix) return m[prefix] + spec.slice(prefix.length);
  }
  return undefined;
}
