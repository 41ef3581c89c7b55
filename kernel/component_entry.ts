/**
 * A component registry entry: what the registry knows of one component type
 * (kind, name, origin, schema or its loader, class or its loader, permission
 * needs), and the options a registration takes.
 * @module
 */
import type { ComponentClass, ComponentKind } from "./component.ts";
import type { SchemaLike } from "./schema.ts";
import type { ComponentOrigin } from "./component_shapes.ts";

/** How a type says its permission needs from a validated config (`ComponentClass.permissionsFor`). */
export type PermissionsFor = NonNullable<ComponentClass["permissionsFor"]>;

/** A registry entry. */
export interface ComponentEntry {
  /** Component kind, from the class's base class. */
  kind: ComponentKind;
  /** Type name used in `flowyml.yaml`, e.g. `local`, `s3`. */
  type: string;
  /** Where the component came from. */
  origin: ComponentOrigin;
  /** Module specifier or file it came from. */
  source?: string;
  /** Component version, when it declares one. */
  version?: string;
  /** One-line description, shown in component listings. */
  description?: string;
  /** Config schema (zod), once known: given, from the class, or loaded by `loadSchema`. */
  schema?: SchemaLike;
  /**
   * Loads the config schema on first need (config validation, `component show`), so a
   * catalog entry costs nothing at import: see `ComponentRegistry.schemaOf`.
   */
  loadSchema?: () => Promise<SchemaLike | undefined>;
  /** The class, once loaded. */
  cls?: ComponentClass;
  /** Loads the class on first use. */
  load?: () => Promise<ComponentClass>;
  /**
   * A lazy entry's permission needs from its validated config, asked instead of loading the
   * class (the launcher plans a least-privilege child without the engine or SQLite). It must
   * say what the class's `permissions()` would; once the class is loaded, the class is asked
   * (see `ComponentRegistry.permissionsFor`).
   */
  permissionsFor?: PermissionsFor;
}

/** Options of `ComponentRegistry.register`. */
export interface RegisterOptions {
  /** Where the component came from (default `code`). */
  origin?: ComponentOrigin;
  /** Module specifier or file it came from. */
  source?: string;
  /** Component version (default: the class's static `version`). */
  version?: string;
  /** Replace an existing entry with the same kind and name. */
  replace?: boolean;
}
