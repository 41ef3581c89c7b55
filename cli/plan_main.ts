/**
 * The permission planner process (see `cli/plan.ts`): reads a
 * {@linkcode PlanRequest} on stdin, imports the locked component modules,
 * builds the stack, and prints `<nonce>{"reasons": […]}` on stdout. It is
 * started with no write, net, run, sys or ffi permission, so the top-level
 * code of a locked module cannot change anything outside this process.
 * @module
 */
import "../mod.ts"; // the API handed to locked modules exporting `components(flowyml)`
import "../plugins/mod.ts";
import "../plugins/lazy_graph.ts"; // every module flowyml loads on demand, in this graph
import { describeError } from "../kernel/errors.ts";
import { getComponentRegistry } from "../kernel/registry.ts";
import { lazyImport } from "../kernel/lazy_import.ts";
import { lockedSpecifier } from "./lockfile.ts";
import { componentNeedsHere, type PlanRequest } from "./plan.ts";

async function readStdin(): Promise<string> {
  return await new Response(Deno.stdin.readable).text();
}

if (import.meta.main) {
  const request = JSON.parse(await readStdin()) as PlanRequest;
  const print = (v: unknown) => console.log(request.nonce + JSON.stringify(v));
  try {
    // The sandbox runtime loads only for a config that has plugins (≈ 20 ms of every plan).
    if (Object.keys(request.config.plugins ?? {}).length) {
      const { configurePlugins } = await lazyImport<typeof import("../kernel/sandbox/runtime.ts")>(
        new URL("../kernel/sandbox/runtime.ts", import.meta.url),
      );
      configurePlugins(request.config.plugins, { file: request.config.path });
    }
    const reg = getComponentRegistry();
    for (const c of request.components) {
      try {
        await reg.loadComponent(lockedSpecifier(request.lockPath, c.source), c.name);
      } catch (err) {
        throw new Error(`component module ${c.source} failed to load: ${describeError(err)}`);
      }
    }
    print({ reasons: await componentNeedsHere(request.config, request.stack) });
  } catch (err) {
    print({ error: describeError(err) });
    Deno.exitCode = 1;
  }
}
