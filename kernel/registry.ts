/**
 * The component registry: every component class, built-in or plugin, is
 * registered here under its kind and type name. The `type:` of a component in
 * `flowyml.yaml` is its registry name.
 *
 * Classes can be registered eagerly (`register`, `@registerComponent`) or
 * lazily (`registerLazy`): a lazy entry carries the config schema, or a
 * `loadSchema` hook importing just the schema module, so a config can be
 * validated without importing the heavy implementation (ZenML's "flavor"
 * idea), and an entry costs nothing until a stack names its type. Entries
 * are described in component_entry.ts; importing component modules is
 * component_modules.ts.
 * @module
 */
import {
  COMPONENT_KINDS,
  type ComponentClass,
  type ComponentKind,
  type StackComponent,
} from "./component.ts";
import {
  ComponentError,
  ConfigError,
  describeError,
  explainPermission,
  isPermissionError,
} from "./errors.ts";
import type { ContainerRegistry, Executor, Orchestrator } from "./contracts.ts";
import type { ArtifactStore } from "./artifact_store.ts";
import type { MetadataStore } from "./metadata_store.ts";
import { formatZodIssues, type SchemaLike } from "./schema.ts";
import {
  type ComponentOrigin,
  defaultTypeName,
  kindOf,
  missingMethods,
} from "./component_shapes.ts";
import {
  adoptInstance,
  type ComponentFactory,
  factoryClass,
  factoryOf,
  isComponentFactory,
} from "./component_factory.ts";
import type { ComponentEntry, PermissionsFor, RegisterOptions } from "./component_entry.ts";
import { ComponentModules } from "./component_modules.ts";
import { knownOptions, unknownKeyWarning, unknownOptions } from "./known_options.ts";

export {
  type ComponentOrigin,
  defaultTypeName,
  kindOf,
  originOf,
  packageVersion,
  REQUIRED_SHAPES,
  toSpecifier,
} from "./component_shapes.ts";
export { type ComponentFactory, isComponentFactory } from "./component_factory.ts";
export { knownOptions, unknownKeyWarning, unknownOptions } from "./known_options.ts";
export type { ComponentEntry, PermissionsFor, RegisterOptions } from "./component_entry.ts";

/** How a third-party component becomes known, for "unknown type" errors. */
const PIN_HINT = "a third-party component must be pinned in flowyml.lock: run " +
  "`flowyml component load <module>` in the project, or list the module under " +
  '"flowyml": { "plugins": [...] } in its deno.json';

/** Holds every known component class, by kind and type name. */
export class ComponentRegistry {
  #entries = new Map<string, ComponentEntry>();
  #modules: ComponentModules = new ComponentModules(this);

  /**
   * The API handed to plugin modules that export `components` as a function,
   * `components(flowyml)` — e.g. npm packages, which cannot import the host's
   * copy of flowyml. `mod.ts` sets flowyml's whole public API; by default it
   * holds only the contract classes. An async function is called when a plugin
   * first needs the API, so what it imports loads only then.
   */
  setPluginApi(api: Record<string, unknown> | (() => Promise<Record<string, unknown>>)): void {
    this.#modules.setPluginApi(api);
  }

  /**
   * Register a component class, or a plain `{ kind, type, create }` object.
   * A class's kind comes from its base class; it must implement one required
   * shape of that kind (`REQUIRED_SHAPES`; the contract supplies the rest).
   * Missing methods and name conflicts are refused with a clear error.
   */
  register(
    component: ComponentClass | ComponentFactory,
    name?: string,
    options: RegisterOptions = {},
  ): ComponentEntry {
    const cls = isComponentFactory(component) ? factoryClass(component) : component;
    const kind = kindOf(cls);
    if (!kind) {
      throw new ComponentError(
        `cannot register ${
          (cls as { name?: string })?.name || String(cls)
        }: it neither extends a component base class nor is a { kind, type, create } object`,
        {
          hint: "extend Orchestrator, ArtifactStore, MetadataStore, ContainerRegistry or " +
            'Executor, or register { kind: "artifact_store", type: "mine", create(config) { … } }',
        },
      );
    }
    const missing = factoryOf(cls) ? undefined : missingMethods(cls.prototype, kind);
    if (missing) {
      throw new ComponentError(
        `cannot register ${cls.name} as ${kind}: missing required method(s) ${missing}`,
        { hint: `implement ${missing} in ${cls.name} (see "Contracts" in docs/plugins.md)` },
      );
    }
    const type = name ?? defaultTypeName(cls);
    const key = `${kind}:${type}`;
    let prev = this.#entries.get(key);
    if (prev && shadowsBuiltin(prev, options.origin ?? "code")) {
      // A user's own class under a built-in flavor's name (the seed's `AirflowOrchestrator`)
      // takes that name, as the seed expects; the built-in is not loaded.
      this.#warn(
        `note: ${kind} "${type}": ${cls.name} replaces the built-in ${type} ${kind} ` +
          `(${prev.source ?? "flowyml"}); register it under another name to keep both`,
      );
      this.#entries.delete(key);
      prev = undefined;
    }
    if (
      prev && prev.cls !== cls && !options.replace &&
      !(prev.load && !prev.cls && prev.origin === (options.origin ?? "code"))
    ) {
      throw new ComponentError(
        `component name conflict: ${kind} "${type}" is already registered by ${
          prev.cls?.name ?? "a lazy entry"
        } (${prev.origin}${prev.source ? ` ${prev.source}` : ""}); ${cls.name} cannot take it`,
        { hint: `register one of them under another name: registerComponent({ name: "other" })` },
      );
    }
    const entry: ComponentEntry = {
      kind,
      type,
      origin: options.origin ?? prev?.origin ?? "code",
      source: options.source ?? prev?.source,
      version: options.version ?? cls.version ?? prev?.version,
      schema: (cls.configSchema as SchemaLike | undefined) ?? prev?.schema,
      loadSchema: cls.configSchema
        ? undefined
        : (cls.loadConfigSchema as ComponentEntry["loadSchema"]) ?? prev?.loadSchema,
      description: prev?.description,
      cls,
    };
    this.#entries.set(key, entry);
    return entry;
  }

  /** Register a class that is imported only when first used. */
  registerLazy(entry: Omit<ComponentEntry, "cls"> & { load: () => Promise<ComponentClass> }): void {
    const key = `${entry.kind}:${entry.type}`;
    if (this.#entries.has(key) && !this.#entries.get(key)!.load) {
      throw new ComponentError(
        `component name conflict: ${entry.kind} "${entry.type}" is already registered`,
      );
    }
    this.#entries.set(key, { ...entry });
  }

  /** Remove an entry. */
  unregister(kind: ComponentKind, type: string): boolean {
    return this.#entries.delete(`${kind}:${type}`);
  }

  /** The entry for a kind and type, if any. */
  entry(kind: ComponentKind, type: string): ComponentEntry | undefined {
    return this.#entries.get(`${kind}:${type}`);
  }

  /** Every entry, in kind order then name order. */
  entries(): ComponentEntry[] {
    return [...this.#entries.values()].sort((a, b) =>
      COMPONENT_KINDS.indexOf(a.kind) - COMPONENT_KINDS.indexOf(b.kind) ||
      a.type.localeCompare(b.type)
    );
  }

  /** Entries with this type name, across kinds. */
  find(type: string): ComponentEntry[] {
    return this.entries().filter((e) => e.type === type);
  }

  /** Names grouped by kind (the seed's `list_all`). */
  listAll(): Record<ComponentKind, string[]> {
    const out = Object.fromEntries(COMPONENT_KINDS.map((k) => [k, [] as string[]])) as Record<
      ComponentKind,
      string[]
    >;
    for (const e of this.entries()) out[e.kind].push(e.type);
    return out;
  }

  /** The class for a kind and type, loading it if lazy. */
  async get(kind: ComponentKind, type: string): Promise<ComponentClass> {
    const e = this.#entries.get(`${kind}:${type}`);
    if (!e) throw this.#unknown(kind, type);
    if (!e.cls && e.load) {
      try {
        e.cls = await e.load();
      } catch (err) {
        const why = explainPermission(err, `loading ${kind} "${type}"`);
        if (isPermissionError(err)) throw why;
        throw new ComponentError(`${kind} "${type}" failed to load: ${describeError(err)}`, {
          cause: err,
        });
      }
    }
    return e.cls!;
  }

  /**
   * How a type says its permission needs from a validated config without being built: a lazy
   * entry's own `permissionsFor` while its class is not loaded, else the static
   * `permissionsFor` its class defines itself (not an inherited one). `undefined`: build the
   * component and ask its `permissions()`.
   */
  async permissionsFor(kind: ComponentKind, type: string): Promise<PermissionsFor | undefined> {
    const e = this.#entries.get(`${kind}:${type}`);
    if (e?.permissionsFor && !e.cls) return e.permissionsFor;
    const cls = await this.get(kind, type);
    return Object.hasOwn(cls, "permissionsFor") ? cls.permissionsFor!.bind(cls) : undefined;
  }

  /** Orchestrator class by name. */
  getOrchestrator(name: string): Promise<ComponentClass<Orchestrator>> {
    return this.get("orchestrator", name) as Promise<ComponentClass<Orchestrator>>;
  }
  /** Artifact store class by name. */
  getArtifactStore(name: string): Promise<ComponentClass<ArtifactStore>> {
    return this.get("artifact_store", name) as Promise<ComponentClass<ArtifactStore>>;
  }
  /** Metadata store class by name. */
  getMetadataStore(name: string): Promise<ComponentClass<MetadataStore>> {
    return this.get("metadata_store", name) as Promise<ComponentClass<MetadataStore>>;
  }
  /** Container registry class by name. */
  getContainerRegistry(name: string): Promise<ComponentClass<ContainerRegistry>> {
    return this.get("container_registry", name) as Promise<ComponentClass<ContainerRegistry>>;
  }
  /** Executor class by name. */
  getExecutor(name: string): Promise<ComponentClass<Executor>> {
    return this.get("executor", name) as Promise<ComponentClass<Executor>>;
  }

  /**
   * The config schema of a kind and type, loading it through the entry's `loadSchema`
   * hook on first need (the class is not loaded). `undefined` when it declares none.
   */
  async schemaOf(kind: ComponentKind, type: string): Promise<SchemaLike | undefined> {
    const e = this.#entries.get(`${kind}:${type}`);
    if (!e) throw this.#unknown(kind, type);
    e.schema ??= e.cls?.configSchema as SchemaLike | undefined;
    const load = e.loadSchema ?? (e.cls?.loadConfigSchema as ComponentEntry["loadSchema"]);
    if (!e.schema && load) {
      try {
        e.schema = await load();
      } catch (err) {
        if (isPermissionError(err)) throw explainPermission(err, `loading ${kind} "${type}"`);
        throw new ComponentError(
          `${kind} "${type}": its config schema failed to load: ${describeError(err)}`,
          { cause: err },
        );
      }
    }
    return e.schema;
  }

  /**
   * Check a component config against its schema (loaded on first need, see
   * {@linkcode schemaOf}) without loading the class when lazy. Resolves to the
   * parsed config; rejects with a {@linkcode ConfigError} naming what is wrong.
   */
  async validateConfig(
    kind: ComponentKind,
    type: string,
    options: Record<string, unknown>,
    where = "",
  ): Promise<Record<string, unknown>> {
    if (!this.#entries.has(`${kind}:${type}`)) throw this.#unknown(kind, type, where);
    const schema = await this.schemaOf(kind, type);
    if (!schema) return options;
    const r = schema.safeParse(options);
    if (!r.success) {
      throw new ConfigError(
        `${where ? `${where}: ` : ""}invalid ${kind} "${type}" config: ${
          formatZodIssues(r.error, where)
        }`,
      );
    }
    return r.data as Record<string, unknown>;
  }

  /** The error for a type nobody registered, listing every registered type of the kind. */
  #unknown(kind: ComponentKind, type: string, where = ""): ConfigError {
    return new ConfigError(`${where ? `${where}: ` : ""}unknown ${kind} type "${type}"`, {
      hint: `registered ${kind} types: ${this.listAll()[kind].join(", ") || "(none)"}; ${PIN_HINT}`,
    });
  }

  /**
   * Build a component instance from config options, validated first against
   * its schema. A component without a schema is built as given, and a key it
   * is not known to take is reported through {@linkcode onWarning}.
   * `options.__where` (e.g. `flowyml.yaml: stacks.dev.artifact_store`) prefixes messages.
   */
  async create<T extends StackComponent = StackComponent>(
    kind: ComponentKind,
    type: string,
    options: Record<string, unknown> = {},
  ): Promise<T> {
    const { __where, ...given } = options;
    const where = typeof __where === "string" ? __where : undefined;
    const valid = await this.validateConfig(kind, type, given, where);
    const cls = await this.get(kind, type);
    const config = { name: type, ...valid };
    validated.add(config);
    const f = factoryOf(cls);
    const raw = f ? await f.create(config) : new cls(config);
    const made = f ? adoptInstance(f, raw, String(config.name)) : raw;
    if (!(await this.schemaOf(kind, type))) {
      const known = knownOptions(f ? f.create : cls, raw as Partial<StackComponent>);
      const unknown = unknownOptions(given, known);
      if (unknown.length) this.#warn(unknownKeyWarning({ kind, type, where, unknown, known }));
    }
    return made as T;
  }

  /** Where warnings go (default `console.warn`); e.g. unknown config keys of schemaless components. */
  onWarning(handler: (message: string) => void): void {
    this.#warn = handler;
  }
  #warn: (message: string) => void = (m) => console.warn(m);

  /**
   * Import a module and register every component it exports: its
   * `components` array (the plugin convention) plus any exported component
   * class. Import failures are reported, never swallowed.
   */
  loadFromModule(specifier: string, options: RegisterOptions = {}): Promise<ComponentEntry[]> {
    return this.#modules.loadFromModule(specifier, options);
  }

  /**
   * Load a component from `path/to/file.ts:ClassName` or a module specifier
   * (file, URL, `jsr:`, `npm:`). With `name`, the loaded class is registered
   * under that name.
   */
  loadComponent(source: string, name?: string): Promise<ComponentEntry[]> {
    return this.#modules.loadComponent(source, name);
  }
}

const globalRegistry = new ComponentRegistry();

/** The process-wide registry (the seed's `get_component_registry`). */
export function getComponentRegistry(): ComponentRegistry {
  return globalRegistry;
}

/** Options of {@linkcode registerComponent}. */
export interface RegisterComponentOptions {
  /** Type name to register under (default: the class's `type`, else one derived from its name). */
  name?: string;
}

/**
 * Class decorator registering a component (TC39 standard decorators):
 *
 * ```ts ignore
 * @registerComponent
 * class AirflowOrchestrator extends Orchestrator { … }
 *
 * @registerComponent({ name: "my_store" })
 * class MyStore extends ArtifactStore { … }
 * ```
 */
export function registerComponent<C extends ComponentClass>(
  cls: C,
  context: ClassDecoratorContext,
): void;
/** Decorator factory: `@registerComponent({ name })` registers under `name`. */
export function registerComponent(
  options: RegisterComponentOptions,
): <C extends ComponentClass>(cls: C, context: ClassDecoratorContext) => void;
export function registerComponent(
  arg: ComponentClass | RegisterComponentOptions,
  _context?: ClassDecoratorContext,
): void | (<C extends ComponentClass>(cls: C, context: ClassDecoratorContext) => void) {
  if (typeof arg === "function") {
    globalRegistry.register(arg as ComponentClass);
    return;
  }
  const name = arg?.name;
  return (cls) => {
    globalRegistry.register(cls, name);
  };
}

/** True when `prev` is a built-in flavor not loaded yet and the newcomer is not built in. */
function shadowsBuiltin(prev: ComponentEntry, newOrigin: ComponentOrigin): boolean {
  return prev.origin === "builtin" && !!prev.load && !prev.cls && newOrigin !== "builtin";
}

const validated = new WeakSet<object>();

/**
 * The config a component's constructor keeps: `options` without `name`, parsed
 * by `schema`, unless the registry already validated it (a stack built from
 * `flowyml.yaml` validates each component's config once, in
 * {@linkcode ComponentRegistry.create}). Constructors called directly still parse.
 */
export function componentConfig<T>(
  schema: { parse(value: unknown): T },
  options: Record<string, unknown>,
): T {
  if (validated.has(options)) {
    const { name: _, ...rest } = options;
    return rest as T;
  }
  return schema.parse({ ...options, name: undefined });
}
