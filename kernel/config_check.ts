/**
 * The shape check of `flowyml.yaml` (top level, stacks, resources, plugins),
 * hand-written so that loading the kernel does not load zod (≈ 20 ms of
 * `import "flowyml"`). Messages follow zod's, as `key.path: message`;
 * component options are checked later against each component's own schema.
 * @module
 */

/** One problem: where (key path) and what. */
export interface ConfigIssue {
  /** Key path from the root, e.g. `["stacks", "dev", "orchestrator", "type"]`. */
  path: string[];
  /** What is wrong, e.g. `Invalid input: expected string, received number`. */
  message: string;
}

type Check = (value: unknown, path: string[], issues: ConfigIssue[]) => void;

const KINDS = [
  "orchestrator",
  "artifact_store",
  "metadata_store",
  "container_registry",
  "executor",
];

/** zod's name of a value's type. */
function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v === "number" && Number.isNaN(v) ? "NaN" : typeof v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A value of one of `types` (`string`, `number`, `object`). */
function oneOf(...types: string[]): Check {
  return (v, path, issues) => {
    if (types.includes(typeName(v))) return;
    const expected = types.length === 1 ? types[0] : types.join(" | ");
    issues.push({ path, message: `Invalid input: expected ${expected}, received ${typeName(v)}` });
  };
}

/** An object with these keys (each optional unless `required`); others refused when `strict`. */
function object(
  fields: Record<string, Check>,
  options: { strict?: boolean; required?: string[] } = {},
): Check {
  return (v, path, issues) => {
    if (!isObject(v)) return oneOf("object")(v, path, issues);
    for (const [k, check] of Object.entries(fields)) {
      if (v[k] !== undefined) check(v[k], [...path, k], issues);
      else if (options.required?.includes(k)) check(undefined, [...path, k], issues);
    }
    const extra = options.strict ? Object.keys(v).filter((k) => !(k in fields)) : [];
    if (extra.length) {
      const keys = extra.map((k) => `"${k}"`).join(", ");
      issues.push({ path, message: `Unrecognized key${extra.length > 1 ? "s" : ""}: ${keys}` });
    }
  };
}

/** An object whose every value passes `check`. */
function record(check: Check): Check {
  return (v, path, issues) => {
    if (!isObject(v)) return oneOf("object")(v, path, issues);
    for (const [k, x] of Object.entries(v)) check(x, [...path, k], issues);
  };
}

const componentType: Check = (v, path, issues) => {
  if (typeof v !== "string") return oneOf("string")(v, path, issues);
  if (!v.length) issues.push({ path, message: "type must not be empty" });
};
const component = object({ type: componentType }, { required: ["type"] });
const stack = object(
  { type: oneOf("string"), ...Object.fromEntries(KINDS.map((k) => [k, component])) },
  { strict: true },
);
const labels: Check = (v, path, issues) => {
  if (!Array.isArray(v)) return oneOf("array")(v, path, issues);
  v.forEach((x, i) => oneOf("string")(x, [...path, String(i)], issues));
};
const resource = object({
  cpu: oneOf("string", "number"),
  memory: oneOf("string"),
  gpu: oneOf("string", "number"),
  labels,
}, { strict: true });
const file = object({
  default_stack: oneOf("string"),
  stacks: record(stack),
  resources: record(resource),
  plugins: record(oneOf("object")),
}, { strict: true });

/** The problems of a parsed `flowyml.yaml` document (empty when its shape is valid). */
export function checkConfigShape(raw: unknown): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  file(raw, [], issues);
  return issues;
}
