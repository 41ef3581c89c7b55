/**
 * Entry of a least-privilege child that runs a CLI command (`stack validate`
 * in a child holding the stack's computed permissions). Such a child may not
 * read flowyml's folder, so the modules the CLI loads on demand are put in its
 * module graph here (`plugins/lazy_graph.ts`, and the commands it runs):
 * `cli/main.ts` itself imports them by URL to keep every other command's start
 * cheap (kernel/lazy_import.ts).
 * @module
 */
import "../plugins/lazy_graph.ts";
import "./commands/stack.ts";
import { main } from "./main.ts";

if (import.meta.main) {
  await main(Deno.args);
  Deno.exit(Deno.exitCode);
}
