/**
 * Object keys shared by the object-storage artifact stores (S3/MinIO, GCS):
 * a store path under an optional prefix, refusing paths that would escape it.
 * @module
 */
import { FlowymlError } from "../../kernel/errors.ts";

/** A configured prefix without leading or trailing slashes. */
export function normalizePrefix(prefix: string): string {
  return prefix.replace(/^\/+|\/+$/g, "");
}

/** The object key of a store path: `<prefix>/<path>`, or `<path>` without a prefix. */
export function objectKey(prefix: string, path: string): string {
  if (path.startsWith("/") || path.split("/").some((s) => s === ".." || s === ".")) {
    throw new FlowymlError(`artifact path "${path}" must be relative without . or .. segments`);
  }
  const p = normalizePrefix(prefix);
  return p ? `${p}/${path}` : path;
}
