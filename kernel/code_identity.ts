/**
 * Step code identity from the module graph: a step's cache key covers the
 * local modules its defining module imports, transitively, not only the
 * source of its function. Editing `ml.ts` re-runs exactly the steps defined
 * in modules that (directly or through others) import it.
 *
 * The graph is the loader's own static scan (kernel/module_graph.ts):
 * `import … from`, `export … from`, `import "…"` and `import("literal")`.
 * Local files are hashed by content; bare specifiers are resolved with the
 * process's import map (`import.meta.resolve`) and followed when they map to
 * local files; `npm:`, `jsr:`, `node:` and remote `https:` modules enter by
 * their specifier (pin exact versions for that to mean something). flowyml's
 * own modules are not part of it. See docs/caching.md.
 * @module
 */
import { sha256Hex } from "./hash.ts";
import { importSpecifiers, resolveImport } from "./module_graph.ts";
import type { Step } from "./contracts.ts";

const ROOT = new URL("../", import.meta.url).href;
const OWN = ["kernel/", "plugins/", "cli/", "sdk/", "mod.ts"].map((p) => ROOT + p);

/** True for flowyml's own modules (the kernel, plugins, CLI, SDK and `mod.ts`). */
export function isFlowymlModule(url: string): boolean {
  return OWN.some((p) => url.startsWith(p));
}

/** The part of V8's structured stack frames read here. */
interface CallSite {
  /** The module's URL (Deno's `getFileName()` gives a path instead). */
  getScriptNameOrSourceURL?(): string | undefined | null;
}

type PrepareStackTrace = (err: Error, sites: CallSite[]) => unknown;

const MODULE_URL = /^(?:file|https?):\/\//;

/**
 * The module that called `step()`: the first stack frame outside flowyml's
 * own modules, or `undefined` when it cannot be told (e.g. code from `eval`).
 * Reads V8's structured frames rather than formatting the stack as text (a
 * pipeline of 1,000 steps is defined about 2× faster); a runtime that gives no
 * structured frames is read from the text.
 */
export function callerModule(): string | undefined {
  const sites = callSites();
  if (!sites) return callerFromText();
  for (const site of sites) {
    const url = site.getScriptNameOrSourceURL?.();
    if (url && MODULE_URL.test(url) && !isFlowymlModule(url)) return url;
  }
  return undefined;
}

/** The current stack as V8's structured frames, or `undefined` if the runtime gives none. */
function callSites(): CallSite[] | undefined {
  const E = Error as unknown as { prepareStackTrace?: PrepareStackTrace; stackTraceLimit: number };
  const { prepareStackTrace, stackTraceLimit } = E;
  const holder: { stack?: unknown } = {};
  E.stackTraceLimit = 50;
  E.prepareStackTrace = (_err, sites) => sites;
  try {
    Error.captureStackTrace(holder, callSites);
    return Array.isArray(holder.stack) ? holder.stack as CallSite[] : undefined; // read while set
  } finally {
    E.prepareStackTrace = prepareStackTrace;
    E.stackTraceLimit = stackTraceLimit;
  }
}

/** {@linkcode callerModule} from the stack's text. */
function callerFromText(): string | undefined {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 50;
  const stack = new Error().stack ?? "";
  Error.stackTraceLimit = limit;
  return stackModuleUrls(stack).find((url) => !isFlowymlModule(url));
}

/**
 * The module URLs of a stack trace's frames, in order, as `import.meta.url` spells them: Deno
 * prints the path of an imported module decoded (`file:///my steps/x.ts`), so it is re-encoded.
 */
export function stackModuleUrls(stack: string): string[] {
  const urls: string[] = [];
  for (const m of stack.matchAll(/((?:file|https?):\/\/[^)\n]+?):\d+:\d+/g)) {
    try {
      urls.push(new URL(m[1]).href);
    } catch {
      // not a URL after all: skip the frame
    }
  }
  return urls;
}

const SCANNED = /\.(m?[jt]sx?|[cm]ts)$/;
const warned = new Set<string>();

function readable(url: string): boolean {
  try {
    const path = decodeURIComponent(new URL(url).pathname);
    return Deno.permissions.querySync({ name: "read", path }).state === "granted";
  } catch {
    return false;
  }
}

/** Where an import specifier leads: a URL to follow, or an external specifier to record. */
function resolveSpecifier(spec: string, importer: string): { follow?: string; external?: string } {
  const direct = resolveImport(spec, importer);
  if (direct) return direct.startsWith("file:") ? { follow: direct } : { external: direct };
  if (/^(npm|jsr|node):/.test(spec)) return { external: spec };
  try {
    const r = import.meta.resolve(spec); // the import map of this process
    // An npm package installed in node_modules: its path names its exact version.
    return r.startsWith("file:") && !r.includes("/node_modules/") ? { follow: r } : { external: r };
  } catch {
    return { external: spec };
  }
}

async function fileLine(url: string, base: string): Promise<{ line: string; text?: string }> {
  const name = url.startsWith(base) ? url.slice(base.length) : url;
  if (!readable(url)) {
    if (!warned.has(url)) {
      warned.add(url);
      console.warn(
        `flowyml: cannot read ${url} to hash it into step code identity; edits to it will not ` +
          `invalidate cached steps (grant read access to it, e.g. --grant read=${
            decodeURIComponent(new URL(url).pathname)
          })`,
      );
    }
    return { line: `${name} unreadable` };
  }
  try {
    const bytes = await Deno.readFile(new URL(url));
    const text = SCANNED.test(url) ? new TextDecoder().decode(bytes) : undefined;
    return { line: `${name} ${sha256Hex(bytes)}`, text };
  } catch {
    return { line: `${name} missing` };
  }
}

/**
 * Hash of a module and every local module it imports (transitively): sorted
 * `path sha256` lines of local files plus the external specifiers reached.
 */
export async function moduleClosureHash(root: string): Promise<string> {
  const base = new URL(".", root).href;
  const lines: string[] = [];
  const seen = new Set<string>([root]);
  let frontier = [root];
  while (frontier.length) {
    const next: string[] = [];
    const read = await Promise.all(frontier.map((u) => fileLine(u, base)));
    for (const [i, { line, text }] of read.entries()) {
      lines.push(line);
      for (const spec of text ? importSpecifiers(text) : []) {
        const r = resolveSpecifier(spec, frontier[i]);
        const key = r.follow ?? `external ${r.external}`;
        if (seen.has(key) || (r.follow && isFlowymlModule(r.follow))) continue;
        seen.add(key);
        if (r.follow) next.push(r.follow);
        else lines.push(key);
      }
    }
    frontier = next;
  }
  return sha256Hex(new TextEncoder().encode(lines.sort().join("\n")));
}

/** Closure hashes of the local modules defining `steps`, by module URL. */
export async function codeIdentities(steps: readonly Step[]): Promise<Map<string, string>> {
  const mods = [
    ...new Set(steps.map((s) => s.module).filter((m): m is string => !!m?.startsWith("file:"))),
  ];
  const hashes = await Promise.all(mods.map(moduleClosureHash));
  return new Map(mods.map((m, i) => [m, hashes[i]]));
}

/** `s` with its defining module's closure hash mixed into `codeHashInput`. */
export function withCodeIdentity(s: Step, identities: Map<string, string>): Step {
  const id = s.module ? identities.get(s.module) : undefined;
  return id ? { ...s, codeHashInput: `${s.codeHashInput}\u0000modules:${id}` } : s;
}
