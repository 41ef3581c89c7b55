/**
 * Run params as a run records them. A run stores its params as JSON: `runs show` and the UI read
 * them there, `runs resume` runs the steps with them again, and queue workers and remote
 * orchestrators receive them as JSON. So a param is accepted only when JSON gives it back
 * unchanged: otherwise a worker or a resumed run would compute with another value (`Infinity`
 * arrives as `null`) than the one the run and its cache entries are keyed by.
 * @module
 */
import { ConfigError } from "./errors.ts";

/**
 * Check run params before a run is recorded: throws a {@linkcode ConfigError} naming the first
 * param JSON cannot carry exactly (`NaN`, `±Infinity`, `-0`, a bigint, a `Date`, a `Map`, a class
 * instance, a function…, at any depth) and what to pass instead. `undefined` values count as
 * absent.
 */
export function checkParams(params: unknown): void {
  if (params === undefined) return;
  if (params === null || typeof params !== "object" || Array.isArray(params)) {
    throw new ConfigError(`run params must be an object of names to values, got ${kind(params)}`, {
      hint: "pass them as pipeline.run({ params: { lr: 0.1 } }) or `flowyml run --param lr=0.1`",
    });
  }
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined || isJsonData(value)) continue;
    throw new ConfigError(
      `run param "${name}" is ${kind(value)}, which a run cannot record: params are stored as ` +
        `JSON (runs show, runs resume, queue workers and remote orchestrators read them there)` +
        jsonTurnsInto(value),
      {
        hint: "pass JSON data (finite numbers, strings, booleans, null, arrays and plain objects " +
          'of those) and convert in the step, e.g. "Infinity" or an ISO date string',
      },
    );
  }
}

/**
 * Whether JSON gives `value` back unchanged (deep-equal): finite numbers but `-0`, strings,
 * booleans, `null`, and arrays (without holes or named keys) and plain objects of those. An object
 * repeated inside (`new Array(3).fill({ units: 64 })`) counts: JSON writes each copy, equal; a
 * cycle does not.
 */
export function isJsonData(value: unknown, ancestors: object[] = []): boolean {
  if (value === null || typeof value === "string" || typeof value === "boolean") return true;
  if (typeof value === "number") return Number.isFinite(value) && !Object.is(value, -0);
  if (typeof value !== "object" || ancestors.includes(value)) return false;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== Array.prototype) return false;
  if (Object.getOwnPropertySymbols(value).length) return false;
  const keys = Object.keys(value);
  if (proto === Array.prototype && keys.length !== (value as unknown[]).length) return false;
  ancestors.push(value);
  const ok = keys.every((k) => isJsonData((value as Record<string, unknown>)[k], ancestors));
  ancestors.pop();
  return ok;
}

/** `", and JSON turns it into null"`, when JSON turns it into anything. */
function jsonTurnsInto(value: unknown): string {
  try {
    const text = JSON.stringify(value);
    return text === undefined ? ", and JSON drops it" : `, and JSON turns it into ${text}`;
  } catch {
    return ", and JSON cannot write it";
  }
}

/** A short description of a value for an error message: `Infinity`, `-0`, `5n (a bigint)`, `a Date`. */
function kind(value: unknown): string {
  if (typeof value === "number") return Object.is(value, -0) ? "-0" : String(value);
  if (typeof value === "bigint") return `${value}n (a bigint)`;
  if (value === null) return "null";
  if (typeof value !== "object") return `a ${typeof value}`;
  if (Array.isArray(value)) return "an array holding a value JSON changes";
  const ctor = Object.getPrototypeOf(value)?.constructor?.name;
  return ctor && ctor !== "Object" ? `a ${ctor}` : "an object holding a value JSON changes";
}
