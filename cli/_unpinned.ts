/**
 * Explaining a module that a least-privilege child's frozen Deno lockfile
 * refused (kept apart from plan.ts, so the run's child does not load the
 * planner and the sandbox loader just to explain an error).
 * @module
 */
import { safeText } from "../kernel/display.ts";
import { FlowymlError } from "../kernel/errors.ts";

/**
 * When `err` (or a cause) is Deno refusing a module the frozen lockfile does
 * not pin, an error naming the module(s) and the lockfile.
 */
export function explainUnpinnedImport(err: unknown, lockPath?: string): FlowymlError | undefined {
  let e: unknown = err;
  for (let i = 0; e && i < 10; i++) {
    const msg = e instanceof Error ? e.message : String(e);
    if (msg.includes("lockfile is out of date")) {
      // deno-lint-ignore no-control-regex
      const plain = msg.replace(/\x1b\[[0-9;]*m/g, "")
        // the message may have been serialized once (a step error from another process)
        .replaceAll("\\n", "\n").replaceAll('\\"', '"');
      // Deno's diff of the lockfile: URLs on added lines that no removed line had.
      const added = new Set<string>();
      const removed = new Set<string>();
      for (const line of plain.split("\n")) {
        const m = /\|\s*([+-]).*?"((?:https?|npm|jsr):[^"]+)"/.exec(line);
        if (m) (m[1] === "+" ? added : removed).add(m[2]);
      }
      const urls = [...added].filter((u) => !removed.has(u));
      return new FlowymlError(
        `refused to load ${urls.length ? urls.map((u) => safeText(u)).join(", ") : "a module"}: ` +
          `it is not pinned in the frozen Deno lockfile ${
            lockPath ?? "of this run"
          }, which holds ` +
          "only flowyml's own dependencies, the modules of flowyml.lock and the pipeline's static " +
          "imports",
        {
          hint: "import it statically from the pipeline module (the parent pins it), or pin a " +
            "component module with `flowyml component load <url>`",
          cause: err,
        },
      );
    }
    e = (e as { cause?: unknown })?.cause;
  }
  return undefined;
}
