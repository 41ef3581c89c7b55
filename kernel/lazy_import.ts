/**
 * Loading flowyml's own modules on first use without putting them in every
 * program's module graph.
 *
 * Deno builds a process's module graph at start-up including every literal
 * `import("./x.ts")` it can see, and under `"nodeModulesDir": "auto"` it checks
 * `node_modules` against the lockfile for every npm package of that graph. A
 * lazy registration written as `load: () => import("./store.ts")` therefore
 * costs every `import "flowyml"` the check of that component's SDK (the nine
 * built-in remote components and the sandbox runtime: ≈ 100 ms of a cold
 * start). {@linkcode lazyImport} takes a URL instead, so the module enters the
 * graph only when it is first used.
 *
 * The price: Deno checks a module imported that way against the process's
 * permissions, so a process without read access to flowyml's folder cannot
 * load it, unless the module is already in its graph. `plugins/lazy_graph.ts`
 * (`flowyml/lazy_graph`) lists every such module with a literal `import()`:
 * a program that imports it has them all in its graph (as before, and at the
 * same start-up cost), so it needs no extra permission and `deno check` sees
 * them. The CLI's processes do that.
 * @module
 */
import { describeError, FlowymlError, isPermissionError } from "./errors.ts";

/**
 * Import `url` (a module of flowyml's, given as `new URL("./x.ts", import.meta.url)`)
 * without a literal `import()`: see the module doc. A permission error says
 * which flag, or which import, lets the module load.
 *
 * ```ts ignore
 * const { S3ArtifactStore } = await lazyImport<typeof import("./store.ts")>(
 *   new URL("./store.ts", import.meta.url),
 * );
 * ```
 */
export async function lazyImport<T = Record<string, unknown>>(url: URL): Promise<T> {
  try {
    return await import(url.href) as T;
  } catch (err) {
    // Deno reports a refused dynamic import as a TypeError "Requires read access to …".
    if (!isPermissionError(err) && !/^Requires \w+ access/.test(describeError(err))) throw err;
    // flowyml's folder, not the module's: its imports reach other folders of flowyml.
    const where = url.protocol === "file:"
      ? decodeURIComponent(new URL("../", import.meta.url).pathname).replace(/\/$/, "")
      : url.origin;
    const flag = url.protocol === "file:" ? `--allow-read=${where}` : `--allow-import=${url.host}`;
    throw new FlowymlError(
      `cannot load flowyml's module ${url.href}: this process may not import it on demand`,
      {
        hint: `run with ${flag}, or import "flowyml/lazy_graph" in the program's entry ` +
          "module (it puts every module flowyml loads on demand in the module graph)",
        cause: err,
      },
    );
  }
}
