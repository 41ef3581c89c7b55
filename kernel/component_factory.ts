/**
 * Plain-object components: `{ kind, type, create(config) }`, accepted by the
 * registry beside classes, so a package needs no base class from flowyml.
 * `create` may return a component instance or a plain object with the
 * contract's methods; a plain object is adopted into the contract class, so
 * it gets every default (e.g. `waitForRun`, streams over bytes).
 * @module
 */
import {
  COMPONENT_KINDS,
  type ComponentClass,
  type ComponentKind,
  type StackComponent,
} from "./component.ts";
import { contractOf, kindOf, missingMethods } from "./component_shapes.ts";
import { ComponentError } from "./errors.ts";

/** A component defined as a plain object instead of a class. */
export interface ComponentFactory<T = unknown> {
  /** Component kind, e.g. `artifact_store`. */
  kind: ComponentKind;
  /** Type name used in `flowyml.yaml`. */
  type: string;
  /** Shown by `flowyml component list`. */
  version?: string;
  /** Config schema (zod), checked before `create` is called. */
  configSchema?: unknown;
  /** Build an instance from the component's config (its `name` included). */
  create(config: Record<string, unknown>): T | Promise<T>;
}

const FACTORY = Symbol.for("flowyml.componentFactory");

/** True for a `{ kind, type, create }` object of a known kind. */
export function isComponentFactory(v: unknown): v is ComponentFactory {
  if (!v || typeof v !== "object") return false;
  const f = v as Partial<ComponentFactory>;
  return typeof f.create === "function" && typeof f.type === "string" &&
    COMPONENT_KINDS.includes(f.kind as ComponentKind);
}

/** The factory behind a class made by {@linkcode factoryClass}, if any. */
export function factoryOf(cls: unknown): ComponentFactory | undefined {
  return (cls as Record<symbol, ComponentFactory> | undefined)?.[FACTORY];
}

/**
 * A class standing for a factory, so the registry (and anything listing its
 * entries) handles both alike. `new` on it works when `create` is synchronous;
 * the registry's `create()` also awaits an asynchronous one.
 */
export function factoryClass(f: ComponentFactory): ComponentClass {
  let cls = made.get(f);
  if (!cls) made.set(f, cls = makeFactoryClass(f));
  return cls;
}

const made = new WeakMap<ComponentFactory, ComponentClass>();

function makeFactoryClass(f: ComponentFactory): ComponentClass {
  if (!f.type) {
    throw new ComponentError(`a plain-object ${f.kind} component needs a non-empty type`, {
      hint: `add type: "my_${f.kind}" to the object`,
    });
  }
  const base = contractOf(f.kind) as unknown as new (name: string) => StackComponent;
  const Made = class extends base {
    static readonly kind = f.kind;
    static readonly type = f.type;
    static readonly version = f.version;
    static readonly configSchema = f.configSchema;
    static readonly [FACTORY] = f;
    constructor(options: Record<string, unknown> = {}) {
      super(String(options.name ?? f.type));
      const inst = f.create(options);
      if (inst instanceof Promise) {
        throw new ComponentError(`${f.kind} "${f.type}": create() is asynchronous`, {
          hint: "build it with getComponentRegistry().create(kind, type, config)",
        });
      }
      return adoptInstance(f, inst, String(options.name ?? f.type));
    }
    toDict(): Record<string, unknown> {
      return { type: f.type };
    }
  };
  Object.defineProperty(Made, "name", { value: `${f.type} (${f.kind} object)` });
  return Made as unknown as ComponentClass;
}

/**
 * What `create` returned, as a component of the factory's kind: an instance
 * of a contract class is kept; a plain object's methods are bound onto a new
 * instance of the contract class. Missing required methods are refused by name.
 */
export function adoptInstance(f: ComponentFactory, made: unknown, name: string): StackComponent {
  const where = `${f.kind} "${f.type}": create()`;
  if (!made || typeof made !== "object") {
    throw new ComponentError(`${where} returned ${made === null ? "null" : typeof made}`, {
      hint: "return the component: an object with the contract's methods",
    });
  }
  let inst = made as StackComponent;
  if (kindOf(made.constructor) !== f.kind) {
    const base = contractOf(f.kind) as unknown as new (name: string) => StackComponent;
    inst = new (class extends base {
      toDict(): Record<string, unknown> {
        return { type: f.type };
      }
    })(
      typeof (made as { name?: unknown }).name === "string" ? (made as StackComponent).name : name,
    );
    for (const key of methodNames(made)) {
      const fn = (made as Record<string, unknown>)[key] as (...a: unknown[]) => unknown;
      Object.defineProperty(inst, key, {
        value: fn.bind(made),
        writable: true,
        configurable: true,
      });
    }
  }
  const missing = missingMethods(inst, f.kind);
  if (missing) {
    throw new ComponentError(
      `${where} returned a component missing required method(s) ${missing}`,
      {
        hint: `add ${missing} to the object create() returns`,
      },
    );
  }
  return inst;
}

function methodNames(obj: object): string[] {
  const out = new Set<string>();
  for (let p = obj; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const k of Object.getOwnPropertyNames(p)) {
      if (k !== "constructor" && typeof (obj as Record<string, unknown>)[k] === "function") {
        out.add(k);
      }
    }
  }
  return [...out];
}
