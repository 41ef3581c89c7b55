/**
 * The environment of a least-privilege child whose code enumerates the
 * environment (BullMQ's `debug` dependency reads `Object.keys(process.env)`,
 * which needs `--allow-env` for every variable): the child gets `--allow-env`
 * over a CLEARED environment holding only the granted variables plus Deno's
 * own, so access to "all" of it is access to exactly the grant. Used by
 * `flowyml worker` and by `flowyml run` on a queue stack.
 * @module
 */
import type { FlowymlConfig } from "../kernel/config.ts";

/** Variables Deno itself (not the child's code) reads to find its caches, registry and TLS. */
export const DENO_ENV = [
  "HOME",
  "PATH",
  "TMPDIR",
  "DENO_DIR",
  "XDG_CACHE_HOME",
  "NO_COLOR",
  "NPM_CONFIG_REGISTRY",
  "DENO_CERT",
  "HTTPS_PROXY",
  "HTTP_PROXY",
  "NO_PROXY",
];

/** The values of `names` (a `*` grant is ignored: the child sees only named variables). */
export function grantedEnv(names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of new Set(names)) {
    if (n === "*") continue;
    try {
      const v = Deno.env.get(n);
      if (v !== undefined) out[n] = v;
    } catch { /* not readable here: not passed on */ }
  }
  return out;
}

/**
 * `flags` with every `--allow-env…` replaced by a bare `--allow-env`, and the
 * cleared environment holding only `env` (the granted names) and Deno's own.
 */
export function clearedEnv(
  flags: string[],
  env: string[],
): { flags: string[]; env: Record<string, string> } {
  const allow = flags.filter((f) => !f.startsWith("--allow-env"));
  const at = allow.indexOf("--no-prompt");
  allow.splice(at < 0 ? allow.length : at, 0, "--allow-env");
  return { flags: allow, env: grantedEnv([...env, ...DENO_ENV]) };
}

/** Whether a stack of `config` runs on the queue orchestrator (BullMQ). */
export function usesQueue(config: FlowymlConfig, stack: string): boolean {
  const o = config.stacks[stack]?.orchestrator as { type?: string } | undefined;
  return o?.type === "queue";
}
