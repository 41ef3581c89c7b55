/**
 * Integrity of a plugin's module graph, computed by flowyml itself.
 *
 * Deno caches remote modules, so a server that starts serving different code
 * is not noticed while the cache is warm. flowyml therefore fetches the
 * module and its static imports itself (never from Deno's cache), hashes each
 * file with SHA-256 and hashes the sorted list into one graph integrity.
 * `npm:` and `jsr:` plugins must name an exact version; their integrity is
 * the registry's own (npm `dist.integrity`, JSR version manifest).
 * @module
 */
import { fileURLToPath as fromFileUrl, relative } from "./_path.ts";
import { sha256Hex, stableStringify } from "./hash.ts";
import { ComponentError, describeError, explainPermission, isPermissionError } from "./errors.ts";
import { importSpecifiers, resolveImport } from "./module_graph.ts";

/** The hashed module graph of one plugin source. */
export interface GraphIntegrity {
  /** `sha256-<hex>` over every module of the graph. */
  integrity: string;
  /** Module → sha256 hex. Remote modules by URL; local files relative to the root module. */
  modules: Record<string, string>;
  /** For an `npm:` package: what its Deno lockfile entry needs. */
  npm?: NpmPin;
}

/** An exactly versioned npm package as the registry describes it. */
export interface NpmPin {
  /** `name@version`, the key of Deno's lockfile `npm` section. */
  package: string;
  /** The registry's `dist.integrity` (`sha512-…`). */
  integrity: string;
  /** Names of its dependencies (including peer and optional ones). */
  dependencies: string[];
}

/** The npm registry Deno loads `npm:` packages from: `NPM_CONFIG_REGISTRY`, else npmjs. */
export function npmRegistryUrl(): string {
  let url: string | undefined;
  try {
    url = Deno.env.get("NPM_CONFIG_REGISTRY");
  } catch (err) {
    if (isPermissionError(err)) {
      throw explainPermission(err, "reading NPM_CONFIG_REGISTRY (the registry of npm: plugins)");
    }
    throw err;
  }
  url ||= "https://registry.npmjs.org/";
  return url.endsWith("/") ? url : `${url}/`;
}

/** The import scanner lives in the kernel (step code identity uses it too). */
export { importSpecifiers, resolveImport };

async function readModule(url: string): Promise<Uint8Array> {
  try {
    if (url.startsWith("file:")) return await Deno.readFile(new URL(url));
    const res = await fetch(url, { signal: AbortSignal.timeout(30_000), redirect: "follow" });
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`HTTP ${res.status} ${res.statusText}`);
    }
    return new Uint8Array(await res.arrayBuffer());
  } catch (err) {
    if (isPermissionError(err)) throw explainPermission(err, `checking the integrity of ${url}`);
    throw new ComponentError(
      `could not fetch ${url} to check its integrity: ${describeError(err)}`,
      {
        hint: "check the URL or path is reachable; a plugin module must be served as-is",
        cause: err,
      },
    );
  }
}

/** `sha256-<hex>` of a module map: sorted `name sha256` lines. */
export function graphIntegrity(modules: Record<string, string>): string {
  const lines = Object.keys(modules).sort().map((k) => `${k} ${modules[k]}\n`).join("");
  return `sha256-${sha256Hex(new TextEncoder().encode(lines))}`;
}

/**
 * Every module URL reachable from `root` through relative/absolute imports (file and http), and
 * through bare ones that `options.resolve` maps (an import map).
 */
export async function walkModuleGraph(
  root: string,
  options: {
    skip?: (url: string) => boolean;
    resolve?: (spec: string, importer: string) => string | undefined;
  } = {},
): Promise<Map<string, Uint8Array>> {
  const seen = new Map<string, Uint8Array>();
  let frontier = [root];
  while (frontier.length) {
    const batch = frontier.filter((u) => !seen.has(u) && !options.skip?.(u));
    frontier = [];
    const bodies = await Promise.all(batch.map(readModule));
    batch.forEach((u, i) => seen.set(u, bodies[i]));
    for (const [i, u] of batch.entries()) {
      if (!/\.(m?[jt]sx?|[cm]ts)$|^https?:/.test(u)) continue;
      const text = new TextDecoder().decode(bodies[i]);
      for (const s of importSpecifiers(text)) {
        const r = resolveImport(s, u) ?? options.resolve?.(s, u);
        if (r && /^(file|https?):/.test(r) && !seen.has(r)) frontier.push(r);
      }
    }
  }
  return seen;
}

function moduleKey(url: string, root: string): string {
  if (!url.startsWith("file:") || !root.startsWith("file:")) return url;
  const base = fromFileUrl(new URL(".", root));
  const rel = relative(base, fromFileUrl(url));
  return rel.startsWith("..") ? fromFileUrl(url) : `./${rel}`;
}

async function registryIntegrity(spec: string): Promise<GraphIntegrity> {
  const m = /^(npm|jsr):\/?(@?[^@/]+(?:\/[^@/]+)?)@(\d+\.\d+\.\d+[^/]*)(\/.*)?$/.exec(spec);
  if (!m) throw await notExact(spec);
  const [, reg, pkg, version] = m;
  const url = reg === "npm"
    ? `${npmRegistryUrl()}${pkg.replace("/", "%2f")}/${version}`
    : `https://jsr.io/${pkg}/${version}_meta.json`;
  const body = JSON.parse(new TextDecoder().decode(await readModule(url)));
  if (reg === "npm") {
    const integrity = body?.dist?.integrity as string | undefined;
    if (!integrity) {
      throw new ComponentError(`the npm registry gives no integrity for ${pkg}@${version}`);
    }
    const dependencies = [
      ...new Set(
        ["dependencies", "peerDependencies", "optionalDependencies"].flatMap((k) =>
          Object.keys(body?.[k] ?? {})
        ),
      ),
    ].sort();
    return {
      integrity,
      modules: { [`npm:${pkg}@${version}`]: integrity },
      npm: { package: `${pkg}@${version}`, integrity, dependencies },
    };
  }
  const h = sha256Hex(stableStringify(body?.manifest ?? {}));
  return { integrity: `sha256-${h}`, modules: { [`jsr:${pkg}@${version}`]: h } };
}

/** The error for a registry specifier without an exact version, naming the newest one if known. */
async function notExact(spec: string): Promise<ComponentError> {
  const reg = spec.slice(0, 3);
  const pkg = /^(?:npm|jsr):\/?(@?[^@/]+(?:\/[^@/]+)?)/.exec(spec)?.[1];
  let latest: string | undefined;
  if (pkg) {
    try {
      const url = reg === "npm"
        ? `${npmRegistryUrl()}${pkg.replace("/", "%2f")}`
        : `https://jsr.io/${pkg}/meta.json`;
      const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
      const body = res.ok ? await res.json() : (await res.body?.cancel(), undefined);
      latest = reg === "npm" ? body?.["dist-tags"]?.latest : body?.latest;
    } catch {
      // the example version below is only a suggestion
    }
  }
  const example = `${reg}:${pkg ?? (reg === "npm" ? "pkg" : "@scope/pkg")}@${latest ?? "1.2.3"}`;
  return new ComponentError(
    `${spec} does not name an exact version, so it cannot be pinned: a version range or tag ` +
      `can load different code tomorrow`,
    {
      hint: `load it with an exact version, e.g. \`flowyml component load ${example}\`` +
        (latest ? ` (${latest} is the registry's latest)` : ""),
    },
  );
}

/**
 * Hash the module graph of a plugin specifier (a `file:` or `http(s):` URL,
 * or an exactly versioned `npm:`/`jsr:` package).
 */
export async function hashModuleGraph(specifier: string): Promise<GraphIntegrity> {
  if (/^(npm|jsr):/.test(specifier)) return await registryIntegrity(specifier);
  const graph = await walkModuleGraph(specifier);
  const modules: Record<string, string> = {};
  for (const [url, bytes] of graph) modules[moduleKey(url, specifier)] = sha256Hex(bytes);
  return { integrity: graphIntegrity(modules), modules };
}

/** Names of the modules that differ between two module maps (added, removed or changed). */
export function changedModules(
  before: Record<string, string>,
  after: Record<string, string>,
): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].filter((k) => before[k] !== after[k]).sort();
}
