/**
 * Entry of the least-privilege child of `flowyml run`, started by
 * cli/launcher.ts with exactly the computed permissions: runs one pipeline
 * in this process (cli/_run_here.ts), without the rest of the CLI.
 *
 * ```sh
 * deno run <computed flags> cli/run_main.ts pipeline.ts --stack local [--run-lock p]
 *   [--param k=v]… [--no-cache] [--concurrency n] [--quiet] [--json --json-marker line]
 * ```
 *
 * The locked component modules are loaded as the parent verified them (the
 * frozen Deno lockfile pins their bytes); the arguments widen nothing: this
 * process's permissions are the boundary.
 * @module
 */
// Every module flowyml loads on demand, in this graph: this least-privilege child may not
// read flowyml's folder, so it cannot import them by URL (kernel/lazy_import.ts).
import "../plugins/lazy_graph.ts";
import { FlowymlError } from "../kernel/errors.ts";
// Not the sandbox runtime (≈ 20 ms of this process's start): it registers its exit hook when a
// run first loads it, and runExitHooks() below closes its plugin host processes.
import { runExitHooks } from "../kernel/lifecycle.ts";
import { type RunFlags, runHere } from "./_run_here.ts";

const VALUED = new Set(["--stack", "--run-lock", "--param", "--concurrency", "--json-marker"]);

/** Parse the arguments the launcher passes (cli/launcher.ts `runMainArgs`). */
export function parseRunMainArgs(args: string[]): { file: string; flags: RunFlags } {
  const flags: RunFlags = { cache: true, verifiedPlugins: true, param: [] };
  let file: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (VALUED.has(a) && i + 1 < args.length) {
      const v = args[++i];
      if (a === "--param") flags.param!.push(v);
      else if (a === "--stack") flags.stack = v;
      else if (a === "--run-lock") flags.runLock = v;
      else if (a === "--concurrency") flags.concurrency = v;
      else flags.jsonMarker = v;
    } else if (a === "--no-cache") flags.cache = false;
    else if (a === "--quiet") flags.quiet = true;
    else if (a === "--json") flags.json = true;
    else if (!a.startsWith("--") && file === undefined) file = a;
    else throw new FlowymlError(`cli/run_main.ts: unexpected argument "${a}"`);
  }
  if (!file) throw new FlowymlError("cli/run_main.ts: no pipeline module given");
  return { file, flags };
}

if (import.meta.main) {
  try {
    const { file, flags } = parseRunMainArgs(Deno.args);
    await runHere(file, flags);
  } catch (err) {
    if (err instanceof FlowymlError) console.error(`error: ${err.message}`);
    else {console.error(
        err instanceof Error ? `error: ${err.stack ?? err.message}` : `error: ${err}`,
      );}
    Deno.exitCode = 1;
  } finally {
    await runExitHooks(); // e.g. the sandbox's plugin host processes, if the run started any
  }
  // As cli/main.ts: a leftover Worker thread or stray timer must not hold the run open.
  Deno.exit(Deno.exitCode);
}
