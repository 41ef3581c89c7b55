/**
 * Config and secret ops: `config.get` (own keys of `grants.config`),
 * `env.get` (`grants.env` globs) and `secrets.get` (`grants.secrets` globs;
 * answers an opaque handle, never the value: `http.fetch` resolves it).
 * @module
 */
import { z } from "zod";
import { anyMatch } from "../grants.ts";
import { defineOp, str } from "./types.ts";

/** Denial of `name` unless a glob of `grants.<key>` matches it. */
function globCheck(globs: readonly string[], name: string, key: "env" | "secrets") {
  return anyMatch(globs, name)
    ? undefined
    : { resource: name, why: `not granted (grants.${key}: ${JSON.stringify(globs)})` };
}

/** `config.get`: a value of `grants.config`; `__proto__`, `toString` … are unknown keys. */
export const configGet = defineOp({
  name: "config.get",
  schema: z.object({ key: str }),
  grant: "config",
  check: (q, env) =>
    Object.hasOwn(env.ctx.grants.config, q.key)
      ? undefined
      : { resource: q.key, why: "not granted (not in grants.config)" },
  handle: (q, env) => ({ resource: q.key, json: { value: env.ctx.grants.config[q.key] } }),
});

/** `env.get`: an environment variable of the kernel (`null` when unset). */
export const envGet = defineOp({
  name: "env.get",
  schema: z.object({ name: str }),
  grant: "env",
  check: (q, env) => globCheck(env.ctx.grants.env, q.name, "env"),
  handle: (q) => ({ resource: q.name, json: { value: Deno.env.get(q.name) ?? null } }),
});

/** `secrets.get`: an opaque handle for a secret, usable in `http.fetch` headers. */
export const secretsGet = defineOp({
  name: "secrets.get",
  schema: z.object({ name: str }),
  grant: "secrets",
  check: (q, env) => globCheck(env.ctx.grants.secrets, q.name, "secrets"),
  handle(q, env) {
    const secret = `secret:${crypto.randomUUID()}`;
    env.secrets.set(secret, q.name);
    return { resource: q.name, json: { secret }, detail: "opaque handle issued" };
  },
});
