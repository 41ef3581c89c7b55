/**
 * What makes a class a component of a kind: its base class, and the methods
 * it must implement itself (the minimal contracts). Also the naming rules the
 * registry applies to classes and module specifiers.
 * @module
 */
import type { ComponentClass, ComponentKind, StackComponent } from "./component.ts";
import { ContainerRegistry, Executor, Orchestrator } from "./contracts.ts";
import { ArtifactStore } from "./artifact_store.ts";
import { MetadataStore } from "./metadata_store.ts";
import { implementsOwn } from "./contract_defaults.ts";

/**
 * The methods a component must implement itself, per kind. A kind with
 * several shapes (the artifact store) accepts a class meeting any one of them;
 * everything else has a default in the contract class.
 */
export const REQUIRED_SHAPES: Record<ComponentKind, { name: string; methods: string[] }[]> = {
  orchestrator: [{ name: "orchestrator", methods: ["runPipeline", "getRunStatus", "toDict"] }],
  artifact_store: [
    { name: "seed shape", methods: ["save", "load", "exists", "toDict"] },
    { name: "byte shape", methods: ["writeBytes", "readBytes", "exists", "uriFor", "toDict"] },
  ],
  metadata_store: [{
    name: "metadata store",
    methods: [
      "createRun",
      "updateRun",
      "getRun",
      "listRuns",
      "upsertStepRun",
      "listStepRuns",
      "recordArtifact",
      "listArtifacts",
      "recordLineage",
      "getLineage",
      "putCacheEntry",
      "findCacheEntries",
      "recordAudit",
      "listAudit",
      "logMetrics",
      "listMetrics",
      "toDict",
    ],
  }],
  container_registry: [{
    name: "container registry",
    methods: ["pushImage", "pullImage", "getImageUri", "toDict"],
  }],
  executor: [{ name: "executor", methods: ["executeStep", "toDict"] }],
};

/** The contract class of each kind. */
export const CONTRACTS: [ComponentKind, abstract new (...a: never[]) => StackComponent][] = [
  ["orchestrator", Orchestrator],
  ["artifact_store", ArtifactStore],
  ["metadata_store", MetadataStore],
  ["container_registry", ContainerRegistry],
  ["executor", Executor],
];

/** The contract class of a kind. */
export function contractOf(kind: ComponentKind): abstract new (...a: never[]) => StackComponent {
  return CONTRACTS.find(([k]) => k === kind)![1];
}

/**
 * Check that `target` (a class's prototype, or an instance) implements a
 * shape of `kind`. Returns `undefined` when it does, else what is missing,
 * shape by shape (e.g. `save, load (seed shape) or writeBytes, readBytes,
 * uriFor (byte shape)`).
 */
export function missingMethods(target: object, kind: ComponentKind): string | undefined {
  const base = contractOf(kind);
  const shapes = REQUIRED_SHAPES[kind];
  const gaps = shapes.map((s) => ({
    ...s,
    missing: s.methods.filter((m) =>
      m === "toDict"
        ? typeof (target as Record<string, unknown>)[m] !== "function"
        : !implementsOwn(target, m, base)
    ),
  }));
  if (gaps.some((g) => g.missing.length === 0)) return undefined;
  if (gaps.length === 1) return gaps[0].missing.join(", ");
  return gaps.map((g) => `${g.missing.join(", ")} (${g.name})`).join(" or ");
}

/** The kind of a component class, from its base class. */
export function kindOf(cls: unknown): ComponentKind | undefined {
  if (typeof cls !== "function") return undefined;
  for (const [kind, base] of CONTRACTS) if (cls.prototype instanceof base) return kind;
  // A plugin built against another copy of flowyml (e.g. from JSR) extends a
  // base class that is equal but not identical: recognise it by name and kind.
  for (
    let p = Object.getPrototypeOf(cls);
    p && p !== Function.prototype;
    p = Object.getPrototypeOf(p)
  ) {
    const hit = CONTRACTS.find(([k, b]) =>
      p.name === b.name && Object.hasOwn(p, "kind") && p.kind === k
    );
    if (hit) return hit[0];
  }
  return undefined;
}

const SUFFIXES = [
  "ContainerRegistry",
  "ArtifactStore",
  "MetadataStore",
  "Orchestrator",
  "Registry",
  "Executor",
  "Store",
];

/** Default registry name of a class: `MinIOArtifactStore` → `minio`. */
export function defaultTypeName(cls: ComponentClass): string {
  if (Object.hasOwn(cls, "type") && cls.type) return cls.type;
  let n = cls.name;
  for (const s of SUFFIXES) {
    if (n.endsWith(s) && n.length > s.length) {
      n = n.slice(0, -s.length);
      break;
    }
  }
  return n.replace(/([a-z0-9])([A-Z])/g, "$1_$2").replace(/([A-Z]+)([A-Z][a-z])/g, "$1_$2")
    .toLowerCase();
}

/** Where a component came from. */
export type ComponentOrigin = "builtin" | "file" | "url" | "jsr" | "npm" | "wasm" | "code";

/** Classify a module specifier. */
export function originOf(specifier: string): ComponentOrigin {
  if (specifier.startsWith("jsr:")) return "jsr";
  if (specifier.startsWith("npm:")) return "npm";
  if (/^https?:/.test(specifier)) return "url";
  if (specifier.endsWith(".wasm")) return "wasm";
  return "file";
}

/** The exact version an `npm:`/`jsr:` specifier names (`npm:pkg@1.2.3/sub` → `1.2.3`), if any. */
export function packageVersion(specifier: string): string | undefined {
  return /^(?:npm|jsr):\/?@?[^@/]+(?:\/[^@/]+)?@(\d+\.\d+\.\d+[^/]*)/.exec(specifier)?.[1];
}

/** Turn a path into an importable specifier (absolute file URL); leave others alone. */
export function toSpecifier(source: string): string {
  if (/^(jsr:|npm:|https?:|file:|data:)/.test(source)) return source;
  const abs = source.startsWith("/") ? source : `${Deno.cwd()}/${source}`;
  return new URL(`file://${abs}`).href;
}
