/**
 * The base of every stack component, and the small value types components share.
 * @module
 */

/** The kinds of stack component flowyml knows. */
export type ComponentKind =
  | "orchestrator"
  | "artifact_store"
  | "metadata_store"
  | "container_registry"
  | "executor";

/** All component kinds, in display order. */
export const COMPONENT_KINDS: readonly ComponentKind[] = [
  "orchestrator",
  "artifact_store",
  "metadata_store",
  "container_registry",
  "executor",
];

/** Compute resources a step or pipeline asks for. */
export interface ResourceConfig {
  /** CPU cores, e.g. `"2"` or `0.5`. */
  cpu?: string | number;
  /** Memory, e.g. `"8Gi"`. */
  memory?: string;
  /** GPUs, e.g. `1` or `"nvidia-tesla-t4:1"`. */
  gpu?: string | number;
  /** Queue or worker labels this work must run on (used by the queue orchestrator). */
  labels?: string[];
}

/** Container settings for orchestrators that run steps in images. */
export interface DockerConfig {
  /** Image reference, e.g. `registry.example.com/team/pipeline:1.2`. */
  image?: string;
  /** Base image to build from. */
  baseImage?: string;
  /** Environment variables set in the container. */
  env?: Record<string, string>;
  /** Extra files or folders to copy into the image. */
  include?: string[];
}

/** What Deno permissions a component needs; used to compute least-privilege flags. */
export interface PermissionNeeds {
  /** Paths to read (`--allow-read`). */
  read?: string[];
  /** Paths to write (`--allow-write`). */
  write?: string[];
  /** Hosts (`host` or `host:port`) to connect to (`--allow-net`). */
  net?: string[];
  /** Environment variables to read (`--allow-env`). */
  env?: string[];
  /** Programs to run (`--allow-run`). */
  run?: string[];
  /** Hosts to import modules from (`--allow-import`). */
  import?: string[];
  /** System information APIs, e.g. `hostname` (`--allow-sys`). */
  sys?: string[];
  /** Native libraries to load (`--allow-ffi`). */
  ffi?: string[];
}

/**
 * Base class of every stack component (the seed's `StackComponent`).
 *
 * A component has a `name`, can `validate()` itself (throwing a descriptive
 * error that says how to fix the problem) and serializes its configuration
 * with `toDict()` — never including a secret value.
 */
export abstract class StackComponent {
  /** The component's kind; set by each contract class. */
  static readonly kind: ComponentKind;
  /** Instance name (defaults to the registry type). */
  name: string;

  /** A component with instance name `name`. */
  constructor(name: string) {
    this.name = name;
  }

  /** Check the component is usable. Throws a descriptive error if not. */
  validate(): boolean | Promise<boolean> {
    return true;
  }

  /** The config needed to rebuild this component. Must never contain secrets. */
  abstract toDict(): Record<string, unknown>;

  /** Deno permissions this component needs at run time. */
  permissions(): PermissionNeeds {
    return {};
  }

  /** Release connections and handles. */
  close(): void | Promise<void> {}
}

/** A constructor of stack components taking one options object. */
export type ComponentClass<T extends StackComponent = StackComponent> =
  // deno-lint-ignore no-explicit-any
  & (new (options?: any) => T)
  & {
    kind: ComponentKind;
    type?: string;
    version?: string;
    configSchema?: unknown;
    /**
     * Loads the config schema on first need, for a class that keeps its schema (and zod) out of
     * its module: `static loadConfigSchema = async () => (await import("./config.ts")).schema`.
     * Used when the class has no `configSchema`; subclasses inherit it.
     */
    loadConfigSchema?: () => Promise<unknown>;
    /**
     * The needs `permissions()` would report, from a validated config, without building the
     * component: the launcher asks this when it plans a least-privilege run. Only the class that
     * defines it is asked (a subclass may need more, so it is built and asked).
     */
    permissionsFor?: (config: Record<string, unknown>) => PermissionNeeds;
  };
