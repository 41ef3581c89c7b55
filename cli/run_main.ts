/**
 * Entry of the least-privilege child of `flowyml run`, started by
 * cli/launcher.ts with exactly the computed permissions: runs one pipeline
 * in this process (cli/_run_here.ts), without the rest of the CLI.
 *
 * ```sh
 * deno run <computed flags> cli/run_main.ts pipeline.ts --stack=local [--run-lock=p]
 *   [--param=k=v]… [--no-cache] [--concurrency=n] [--quiet] [--json --json-marker=line]
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
import { runHere } from "./_run_here.ts";
import { parseRunArgs } from "./run_options.ts";

if (import.meta.main) {
  try {
    // The launcher's arguments (cli/launcher.ts `runMainArgs`), read as `flowyml run` reads its own.
    const run = parseRunArgs(Deno.args);
    if (!run) {
      throw new FlowymlError(`cli/run_main.ts: unexpected arguments ${Deno.args.join(" ")}`);
    }
    await runHere(run.file, { ...run.flags, verifiedPlugins: true });
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
