/**
 * Components from modules: importing a component module and registering what
 * it exports (its `components` array, or what its `components(flowyml)`
 * factory returns given the plugin API, plus any exported component class),
 * and loading one `path/to/file.ts:ClassName`. Used by
 * {@linkcode ComponentRegistry}'s `loadFromModule`, `loadComponent` and
 * `setPluginApi`.
 * @module
 */
import type { ComponentClass, ComponentKind } from "./component.ts";
import { ComponentError, describeError, explainPermission, isPermissionError } from "./errors.ts";
import { ContainerRegistry, Executor, Orchestrator } from "./contracts.ts";
import { ArtifactStore } from "./artifact_store.ts";
import { MetadataStore } from "./metadata_store.ts";
import {
  defaultTypeName,
  kindOf,
  originOf,
  packageVersion,
  toSpecifier,
} from "./component_shapes.ts";
import { type ComponentFactory, factoryClass, isComponentFactory } from "./component_factory.ts";
import type { ComponentEntry, RegisterOptions } from "./component_entry.ts";

/** The API handed to `components(flowyml)`, or an async function building it on first need. */
export type PluginApi = Record<string, unknown> | (() => Promise<Record<string, unknown>>);

/** What loading modules needs of the registry it registers into. */
export interface RegistryTarget {
  /** Register a class or plain component object (`ComponentRegistry.register`). */
  register(
    component: ComponentClass | ComponentFactory,
    name?: string,
    options?: RegisterOptions,
  ): ComponentEntry;
  /** Remove an entry. */
  unregister(kind: ComponentKind, type: string): boolean;
  /** Every entry. */
  entries(): ComponentEntry[];
  /** Import a module and register its components (the registry's own, so overrides apply). */
  loadFromModule(specifier: string, options?: RegisterOptions): Promise<ComponentEntry[]>;
}

/** Loads component modules into one registry; holds the plugin API and each module's factory result. */
export class ComponentModules {
  #registry: RegistryTarget;
  #pluginApi: PluginApi = {
    Orchestrator,
    ArtifactStore,
    MetadataStore,
    ContainerRegistry,
    Executor,
  };
  #factoryResults = new WeakMap<object, unknown>();

  /** Loads into `registry`. */
  constructor(registry: RegistryTarget) {
    this.#registry = registry;
  }

  /** Set the API `components(flowyml)` receives (see `ComponentRegistry.setPluginApi`). */
  setPluginApi(api: PluginApi): void {
    this.#pluginApi = api;
  }

  /**
   * Import a module and register every component it exports: its
   * `components` array (the plugin convention) plus any exported component
   * class. Import failures are reported, never swallowed.
   */
  async loadFromModule(
    specifier: string,
    options: RegisterOptions = {},
  ): Promise<ComponentEntry[]> {
    let mod: Record<string, unknown>;
    try {
      mod = await import(specifier);
    } catch (err) {
      if (isPermissionError(err)) throw explainPermission(err, `importing ${specifier}`);
      throw new ComponentError(
        `could not import component module ${specifier}: ${describeError(err)}`,
        {
          hint:
            "check the path or URL, and run the module alone with `deno check` to see its error",
          cause: err,
        },
      );
    }
    const origin = options.origin ?? originOf(specifier);
    const classes = new Set<ComponentClass | ComponentFactory>();
    const list = await this.#componentsOf(mod, specifier);
    if (Array.isArray(list)) { for (const c of list) classes.add(c); }
    for (const v of Object.values(mod)) {
      if (kindOf(v) || isComponentFactory(v)) classes.add(v as ComponentClass);
    }
    if (classes.size === 0) {
      throw new ComponentError(`module ${specifier} exports no components`, {
        hint: "export `components = [MyStore, …]` or the component classes themselves",
      });
    }
    const out: ComponentEntry[] = [];
    for (const c of classes) {
      const cls = isComponentFactory(c) ? factoryClass(c) : c;
      const existing = this.#registry.entries().find((e) => e.cls === cls);
      const name = existing?.type ?? defaultTypeName(cls);
      out.push(
        this.#registry.register(cls, name, {
          ...options,
          origin,
          version: options.version ?? cls.version ??
            (typeof mod.version === "string" ? mod.version : undefined) ??
            packageVersion(specifier),
          source: specifier,
          replace: !!existing || options.replace,
        }),
      );
    }
    return out;
  }

  /** A module's `components`: the array, or what its `components(flowyml)` factory returns (once per module). */
  async #componentsOf(mod: Record<string, unknown>, specifier: string): Promise<unknown> {
    const c = mod.components;
    if (typeof c !== "function" || kindOf(c)) return c;
    if (this.#factoryResults.has(mod)) return this.#factoryResults.get(mod);
    let list: unknown;
    try {
      const api = typeof this.#pluginApi === "function" ? await this.#pluginApi() : this.#pluginApi;
      list = await (c as (api: Record<string, unknown>) => unknown)(api);
    } catch (err) {
      if (isPermissionError(err)) {
        throw explainPermission(err, `calling components() of ${specifier}`);
      }
      throw new ComponentError(
        `components(flowyml) of ${specifier} threw: ${describeError(err)}`,
        { hint: "fix the plugin's components() function", cause: err },
      );
    }
    if (!Array.isArray(list)) {
      throw new ComponentError(
        `components(flowyml) of ${specifier} returned ${typeof list}, not an array of classes`,
        { hint: "return [MyStore, …] from components(flowyml)" },
      );
    }
    this.#factoryResults.set(mod, list);
    return list;
  }

  /**
   * Load a component from `path/to/file.ts:ClassName` or a module specifier
   * (file, URL, `jsr:`, `npm:`). With `name`, the loaded class is registered
   * under that name.
   */
  async loadComponent(source: string, name?: string): Promise<ComponentEntry[]> {
    const m = /^(.*\.(?:ts|js|mjs|tsx|jsx)):([A-Za-z_$][\w$]*)$/.exec(source);
    if (m) {
      const spec = toSpecifier(m[1]);
      let mod: Record<string, unknown>;
      try {
        mod = await import(spec);
      } catch (err) {
        if (isPermissionError(err)) throw explainPermission(err, `importing ${m[1]}`);
        throw new ComponentError(`could not import ${m[1]}: ${describeError(err)}`, { cause: err });
      }
      const cls = mod[m[2]];
      if (!cls) {
        throw new ComponentError(`${m[1]} has no export named ${m[2]}`, {
          hint: `exports: ${Object.keys(mod).join(", ")}`,
        });
      }
      return [
        this.#registry.register(cls as ComponentClass, name, {
          origin: originOf(spec),
          source,
          replace: true,
        }),
      ];
    }
    const entries = await this.#registry.loadFromModule(toSpecifier(source));
    if (name && entries.length === 1) {
      this.#registry.unregister(entries[0].kind, entries[0].type);
      return [
        this.#registry.register(entries[0].cls!, name, { origin: entries[0].origin, source }),
      ];
    }
    return entries;
  }
}
