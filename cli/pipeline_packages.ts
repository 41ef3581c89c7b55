/**
 * The npm (and JSR) packages a pipeline imports itself — `npm:ms@2.1.3`, or a
 * name its project's `deno.json` maps to one — pinned in the frozen lockfile
 * of its least-privilege child. Deno resolves them here, in the parent, with
 * `deno cache` under a copy of the run's lockfile (which also fills
 * `node_modules`, which the child may not write); the result is kept under
 * `.flowyml/locks/`, content-addressed, so later runs start at once.
 * @module
 */
import { ConfigError } from "../kernel/errors.ts";
import { sha256Hex } from "../kernel/hash.ts";
import { dirname, join } from "../kernel/_path.ts";
import type { RunLock } from "./plan.ts";
import { isFile } from "../kernel/project.ts";
import { installConfig } from "./install.ts";

/** `npm:ms@2.1.3/sub` → `npm:ms@2.1.3`: a package's key in a Deno lockfile's `specifiers`. */
function lockKey(spec: string): string | undefined {
  const m = /^(npm|jsr):\/?(@[^@/]+\/[^@/]+|[^@/]+)(@[^/]+)?/.exec(spec);
  return m ? `${m[1]}:${m[2]}${m[3] ?? ""}` : undefined;
}

/**
 * `runLock` with the pipeline's own packages added (the same lock when it pins them all):
 * `deno cache` of the pipeline under a copy of it, with the child's config and import map.
 */
export async function pinPipelinePackages(
  runLock: RunLock,
  options: {
    exe: string;
    pipeline: string;
    packages: string[];
    importMap?: string;
    /** Where the resolved lockfiles are kept (the project's `.flowyml/locks`). */
    dir: string;
  },
): Promise<RunLock> {
  const wanted = [...new Set(options.packages.map(lockKey).filter((k): k is string => !!k))];
  if (!wanted.length) return runLock;
  const text = await Deno.readTextFile(runLock.path);
  const pinned = (JSON.parse(text) as { specifiers?: Record<string, string> }).specifiers ?? {};
  const missing = wanted.filter((k) => !(k in pinned)).sort();
  if (!missing.length) return runLock;
  const key = sha256Hex(new TextEncoder().encode(JSON.stringify({ text, missing })));
  const path = join(options.dir, `${key.slice(0, 24)}.pipeline.deno.lock`);
  if (!isFile(path)) await resolveInto(path, text, { ...options, missing });
  return { path, flags: [`--lock=${path}`, "--frozen"] };
}

/** Run `deno cache` of the pipeline under a copy of `text`, then move the result to `path`. */
async function resolveInto(
  path: string,
  text: string,
  o: { exe: string; pipeline: string; importMap?: string; missing: string[] },
): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  await Deno.writeTextFile(tmp, text);
  const cfg = await installConfig();
  const args = ["cache", "--node-modules-dir=auto", `--lock=${tmp}`];
  if (cfg) args.push(`--config=${cfg}`);
  if (o.importMap) args.push(`--import-map=${o.importMap}`);
  const out = await new Deno.Command(o.exe, {
    args: [...args, o.pipeline],
    env: { NO_COLOR: "1" }, // its error goes into ours as plain text
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    await Deno.remove(tmp).catch(() => {});
    const why = new TextDecoder().decode(out.stderr).split(/\n\s*Stack backtrace:/)[0].trim();
    throw new ConfigError(
      `could not resolve the pipeline's packages (${o.missing.join(", ")}): ${why.slice(-800)}`,
      {
        hint: "check each name and version (an exact version pins best), and that this machine " +
          "reaches the npm registry; the CLI pins them before its least-privilege child starts",
      },
    );
  }
  await Deno.rename(tmp, path);
}
