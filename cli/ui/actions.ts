/**
 * The UI's only writes, enabled by `flowyml ui --allow-actions`: "resume" and
 * "retry from here". Both run `flowyml runs resume <id>` (the same command a
 * user types: completed steps are reused, the failed step and everything
 * downstream run again) in a child process, so a pipeline's CPU-bound steps
 * never block the UI server.
 * @module
 */
import { fileURLToPath as fromFileUrl } from "node:url";
import { ConfigError } from "../../kernel/errors.ts";

/** A resume started from the UI. */
export interface StartedResume {
  /** Process id of the `flowyml runs resume` child. */
  pid: number;
  /** The command line it runs. */
  command: string[];
}

const children = new Set<Deno.ChildProcess>();

/** Start `flowyml runs resume <runId> --quiet [--stack S]` in a child process. */
export function startResume(runId: string, options: { stack?: string } = {}): StartedResume {
  if (!/^[\w.:-]{1,200}$/.test(runId)) throw new ConfigError(`"${runId}" is not a run id`);
  const main = fromFileUrl(new URL("../main.ts", import.meta.url));
  const config = fromFileUrl(new URL("../../deno.json", import.meta.url));
  const args = [
    "run",
    "-A",
    "--config",
    config,
    main,
    "runs",
    "resume",
    runId,
    "--quiet",
    ...(options.stack ? ["--stack", options.stack] : []),
  ];
  const child = new Deno.Command(Deno.execPath(), {
    args,
    stdin: "null",
    stdout: "inherit", // its progress and summary show in the UI's terminal
    stderr: "inherit",
  }).spawn();
  children.add(child);
  child.status.finally(() => children.delete(child));
  return { pid: child.pid, command: ["deno", ...args] };
}

/** Resumes started by this process that are still running. */
export function runningResumes(): number {
  return children.size;
}
