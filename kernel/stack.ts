/**
 * Stacks: a named set of components (orchestrator, executor, artifact store,
 * metadata store, optional container registry), built from `flowyml.yaml`
 * through the registry.
 * @module
 */
import type { ComponentKind, StackComponent } from "./component.ts";
import { type FlowymlConfig, loadConfig, stackConfig, stackNameOf } from "./config.ts";
import type { ContainerRegistry, Executor, Orchestrator, StackLike } from "./contracts.ts";
import type { ArtifactStore } from "./artifact_store.ts";
import type { MetadataStore } from "./metadata_store.ts";
import { ConfigError, describeError, FlowymlError } from "./errors.ts";
import { type ComponentRegistry, getComponentRegistry } from "./registry.ts";

/** Components of a {@linkcode Stack}. */
export interface StackComponents {
  /** Runs pipelines. */
  orchestrator: Orchestrator;
  /** Runs step functions. */
  executor: Executor;
  /** Stores step outputs. */
  artifactStore: ArtifactStore;
  /** Records runs, lineage, the step cache and the audit trail. */
  metadataStore: MetadataStore;
  /** Pushes and pulls images; optional. */
  containerRegistry?: ContainerRegistry;
}

/** A named set of components a pipeline runs on. */
export class Stack implements StackLike {
  /** Stack name, as in `flowyml.yaml` `stacks:`. */
  readonly name: string;
  /** Runs pipelines. */
  readonly orchestrator: Orchestrator;
  /** Runs step functions. */
  readonly executor: Executor;
  /** Stores step outputs. */
  readonly artifactStore: ArtifactStore;
  /** Records runs, lineage, the step cache and the audit trail. */
  readonly metadataStore: MetadataStore;
  /** Pushes and pulls images, when configured. */
  readonly containerRegistry?: ContainerRegistry;

  /** A stack named `name` made of already-built components (see {@linkcode buildStack}). */
  constructor(name: string, components: StackComponents) {
    this.name = name;
    this.orchestrator = components.orchestrator;
    this.executor = components.executor;
    this.artifactStore = components.artifactStore;
    this.metadataStore = components.metadataStore;
    this.containerRegistry = components.containerRegistry;
  }

  /** The stack's components with their kinds. */
  components(): [ComponentKind, StackComponent][] {
    const out: [ComponentKind, StackComponent][] = [
      ["orchestrator", this.orchestrator],
      ["executor", this.executor],
      ["artifact_store", this.artifactStore],
      ["metadata_store", this.metadataStore],
    ];
    if (this.containerRegistry) out.push(["container_registry", this.containerRegistry]);
    return out;
  }

  /** Validate every component; throws one error listing every failure. */
  async validate(): Promise<boolean> {
    const problems: string[] = [];
    for (const [kind, c] of this.components()) {
      try {
        await c.validate();
      } catch (err) {
        problems.push(`${kind} "${c.name}": ${describeError(err)}`);
      }
    }
    if (problems.length) {
      throw new FlowymlError(`stack "${this.name}" is not valid:\n  - ${problems.join("\n  - ")}`);
    }
    return true;
  }

  /** Config of every component (never secrets). */
  toDict(): Record<string, unknown> {
    return Object.fromEntries(this.components().map(([k, c]) => [k, c.toDict()]));
  }

  /** Close every component. */
  async close(): Promise<void> {
    for (const [, c] of this.components()) await c.close();
  }
}

const KEY: Record<ComponentKind, keyof StackComponents> = {
  orchestrator: "orchestrator",
  executor: "executor",
  artifact_store: "artifactStore",
  metadata_store: "metadataStore",
  container_registry: "containerRegistry",
};

/** Options of {@linkcode buildStack}. */
export interface BuildStackOptions {
  /** Registry to resolve component types in (default: the global registry). */
  registry?: ComponentRegistry;
}

/** Build the stack `name` of a loaded config. */
export async function buildStack(
  config: FlowymlConfig,
  name: string,
  options: BuildStackOptions = {},
): Promise<Stack> {
  const registry = options.registry ?? getComponentRegistry();
  const sc = stackConfig(config, name);
  const parts: Partial<StackComponents> = {};
  const file = config.path ?? "flowyml.yaml";
  for (const kind of Object.keys(KEY) as ComponentKind[]) {
    const cc = sc[kind];
    if (!cc) continue;
    const { type, ...opts } = cc;
    const where = `${file}: stacks.${name}.${kind}`;
    try {
      // create() validates the config against the component's schema (once) before building it.
      // deno-lint-ignore no-explicit-any
      (parts as any)[KEY[kind]] = await registry.create(kind, type, { ...opts, __where: where });
    } catch (err) {
      if (err instanceof FlowymlError) throw err;
      throw new ConfigError(`${where}: could not create ${kind} "${type}": ${describeError(err)}`, {
        cause: err,
      });
    }
  }
  return new Stack(name, parts as StackComponents);
}

const cache = new Map<string, Promise<Stack>>();

/**
 * The stack to use by default: `name`, else `default_stack` from
 * `flowyml.yaml`, else the embedded local stack. Stacks are cached per process.
 */
export function resolveStack(name?: string, options: { configPath?: string } = {}): Promise<Stack> {
  const key = `${options.configPath ?? ""}::${name ?? ""}`;
  let p = cache.get(key);
  if (!p) {
    p = (async () => {
      const config = await loadConfig(options.configPath);
      return buildStack(config, stackNameOf(config, name));
    })();
    p.catch(() => cache.delete(key));
    cache.set(key, p);
  }
  return p;
}

/** Forget cached stacks (closing them). */
export async function clearStackCache(): Promise<void> {
  const all = [...cache.values()];
  cache.clear();
  for (const p of all) await (await p.catch(() => undefined))?.close();
}
