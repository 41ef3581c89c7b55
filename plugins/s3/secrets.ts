/**
 * Secret references for remote components (S3, GCS, OCI registries). A
 * secret in a component config is either a literal string (typically
 * produced by `${ENV}` interpolation in `flowyml.yaml`) or a reference that
 * is resolved only when the component first needs it:
 *
 * ```yaml
 * secret_key: { env: MINIO_SECRET_KEY }     # read from the environment
 * secret_key: { file: /run/secrets/minio }  # read from a file (trailing newline trimmed)
 * ```
 *
 * References are safe to show (`toDict()` keeps them); literal values never
 * leave the component.
 * @module
 */
import { z } from "zod";
import { ConfigError, isPermissionError, MissingPermissionError } from "../../kernel/errors.ts";
import type { PermissionNeeds } from "../../kernel/component.ts";

/** Schema of a secret: a literal string, `{ env: NAME }` or `{ file: PATH }`. */
export const secretSchema = z.union([
  z.string(),
  z.object({ env: z.string().min(1) }).strict(),
  z.object({ file: z.string().min(1) }).strict(),
]);

/** A secret value or reference. */
export type SecretValue = z.infer<typeof secretSchema>;

/** A reference (not the value), safe for `toDict()`; `undefined` for literals. */
export function secretRef(
  v: SecretValue | undefined,
): { env: string } | { file: string } | undefined {
  return v && typeof v === "object" ? v : undefined;
}

/** Add what resolving `v` needs (env var or file read) to `needs`. */
export function secretPermissions(v: SecretValue | undefined, needs: PermissionNeeds): void {
  if (!v || typeof v === "string") return;
  if ("env" in v) (needs.env ??= []).push(v.env);
  else (needs.read ??= []).push(v.file);
}

/**
 * Resolve a secret. `where` names the config key for messages. Returns
 * `undefined` only when `v` is undefined.
 */
export async function resolveSecret(
  v: SecretValue | undefined,
  where: string,
): Promise<string | undefined> {
  if (v === undefined) return undefined;
  if (typeof v === "string") return v;
  if ("env" in v) {
    let value: string | undefined;
    try {
      value = Deno.env.get(v.env);
    } catch (err) {
      if (isPermissionError(err)) {
        throw new MissingPermissionError(`${where}: reading ${v.env}`, `--allow-env=${v.env}`, err);
      }
      throw err;
    }
    if (value === undefined || value === "") {
      throw new ConfigError(`${where}: environment variable ${v.env} is not set`, {
        hint: `export ${v.env}=…`,
      });
    }
    return value;
  }
  try {
    return (await Deno.readTextFile(v.file)).replace(/\r?\n$/, "");
  } catch (err) {
    if (isPermissionError(err)) {
      throw new MissingPermissionError(
        `${where}: reading ${v.file}`,
        `--allow-read=${v.file}`,
        err,
      );
    }
    throw new ConfigError(
      `${where}: cannot read secret file ${v.file}: ${(err as Error).message}`,
      {
        hint: "check the path in the config",
      },
    );
  }
}

/** Read an optional env var; `undefined` when unset or not permitted. */
export function optionalEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Replace every occurrence of the given secret values in `text` with `***`.
 * Used on error messages coming back from client libraries.
 */
export function redact(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join("***");
  return out;
}
