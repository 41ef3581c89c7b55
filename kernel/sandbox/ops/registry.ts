/**
 * Registry op: `registry.resolve` (an image URI from the stack's container
 * registry, or a registered component), under `grants.registry`.
 * @module
 */
import { z } from "zod";
import type { ComponentKind } from "../../component.ts";
import { getComponentRegistry } from "../../registry.ts";
import { defineOp, str } from "./types.ts";

/** `registry.resolve`: `kind: image` → `uri`; a component kind → `{type, kind, origin, version}`. */
export const registryResolve = defineOp({
  name: "registry.resolve",
  schema: z.object({ kind: str, name: str }),
  grant: "registry",
  check: (q, env) =>
    env.ctx.grants.registry
      ? undefined
      : { resource: `${q.kind}/${q.name}`, why: "not granted (grants.registry: false)" },
  handle(q, env) {
    const resource = `${q.kind}/${q.name}`;
    if (q.kind === "image") {
      const reg = env.ctx.stack?.containerRegistry;
      if (!reg) return { resource, why: "the stack has no container registry", code: "not_found" };
      const [name, tag = "latest"] = q.name.split(":");
      return { resource, json: { uri: reg.getImageUri(name, tag) } };
    }
    const e = getComponentRegistry().entry(q.kind as ComponentKind, q.name);
    if (!e) return { resource, why: "no such component", code: "not_found" };
    return {
      resource,
      json: { type: e.type, kind: e.kind, origin: e.origin, version: e.version ?? null },
    };
  },
});
