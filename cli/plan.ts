/**
 * Permission planning without executing plugin code in the CLI process.
 *
 * A stack's components declare what they need in `permissions()`, but the
 * trusted component modules of `flowyml.lock` are code: their top level runs
 * when they are imported. The parent of a least-privilege child therefore
 * never imports them. {@linkcode planComponentNeeds} asks a planner process
 * (`cli/plan_main.ts`) instead: a `deno run` holding no write, net, run,
 * sys or ffi permission, reading only flowyml's own files and the locked
 * local modules, under the frozen lockfile of {@linkcode writeRunLock}. It
 * imports the modules, asks each component of the stack (no stack is
 * assembled) and prints their needs, which are validated here.
 * @module
 */
import "../plugins/builtin_types.ts"; // the component types the stacks name (no class loaded)
import { fileURLToPath, resolve } from "../kernel/_path.ts";
import type { ComponentKind, PermissionNeeds } from "../kernel/component.ts";
import { type FlowymlConfig, stackConfig } from "../kernel/config.ts";
import { safeText } from "../kernel/display.ts";
import { ComponentError, ConfigError, describeError, FlowymlError } from "../kernel/errors.ts";
import { sha256Hex } from "../kernel/hash.ts";
import { PERMISSION_KINDS, toDenoFlags } from "../kernel/permissions.ts";
import { getComponentRegistry } from "../kernel/registry.ts";
import { lazyImport } from "../kernel/lazy_import.ts";
import {
  installConfig,
  installLockfile,
  installRoot,
  nodeModulesReady,
  projectStateDir,
  runnableDeno,
} from "./install.ts";
import {
  lockedModuleAccess,
  type Lockfile,
  lockfilePath,
  pinnedNpmPackages,
  pinnedRemoteModules,
  writeDenoLock,
} from "./lockfile.ts";

/** Environment variables the flowyml CLI itself may read (the planner, the pipeline process). */
export const CLI_ENV = ["FLOWYML_CONFIG", "FLOWYML_HOME"];

/** One contributor to the permission set and what it asked for. */
export interface PermissionReason {
  by: string;
  needs: PermissionNeeds;
}

/** What the planner prints (after its nonce): the components' needs, or why it failed. */
export interface Plan {
  reasons?: PermissionReason[];
  error?: string;
}

/**
 * Parse the planner's line against its zod schema. zod is loaded here, on first use: a run whose
 * stack has no locked module never starts the planner and never evaluates it (≈ 10 ms).
 */
export async function parsePlan(text: string): Promise<Plan> {
  const { z } = await import("zod");
  const needs = z.strictObject(
    Object.fromEntries(PERMISSION_KINDS.map((k) => [k, z.array(z.string().max(4096)).optional()])),
  );
  return z.strictObject({
    reasons: z.array(z.strictObject({ by: z.string().max(1000), needs })).optional(),
    error: z.string().optional(),
  }).parse(JSON.parse(text)) as Plan;
}

/** What the parent sends the planner on stdin. */
export interface PlanRequest {
  nonce: string;
  config: FlowymlConfig;
  stack: string;
  lockPath: string;
  components: { source: string; name?: string }[];
}

/** The stack's component kinds, in the order their needs are listed. */
const STACK_KINDS: ComponentKind[] = [
  "orchestrator",
  "executor",
  "artifact_store",
  "metadata_store",
  "container_registry",
];

/**
 * The needs of every component of the stack, asked here. A type that can say
 * them from its validated config (`ComponentRegistry.permissionsFor`) is asked
 * without being built; any other component is built from the config,
 * asked its `permissions()` and closed (no stack is assembled).
 */
export async function componentNeedsHere(
  config: FlowymlConfig,
  stackName: string,
): Promise<PermissionReason[]> {
  const sc = stackConfig(config, stackName);
  const reasons: PermissionReason[] = [];
  for (const kind of STACK_KINDS) {
    const cc = sc[kind];
    if (!cc) continue;
    const { type, ...opts } = cc;
    const where = `${config.path ?? "flowyml.yaml"}: stacks.${stackName}.${kind}`;
    const { name, needs } = await componentNeeds(kind, type, { opts, where });
    if (PERMISSION_KINDS.some((k) => needs[k]?.length)) {
      reasons.push({ by: `${kind} "${name}"`, needs });
    }
  }
  return reasons;
}

async function componentNeeds(
  kind: ComponentKind,
  type: string,
  c: { opts: Record<string, unknown>; where: string },
): Promise<{ name: string; needs: PermissionNeeds }> {
  const registry = getComponentRegistry();
  try {
    const hook = await registry.permissionsFor(kind, type);
    if (hook) {
      const valid = await registry.validateConfig(kind, type, c.opts, c.where);
      const config = { name: type, ...valid };
      return { name: String(config.name), needs: hook(config) };
    }
    const made = await registry.create(kind, type, { ...c.opts, __where: c.where });
    try {
      return { name: made.name, needs: made.permissions() };
    } finally {
      await made.close();
    }
  } catch (err) {
    if (err instanceof FlowymlError) throw err;
    throw new ConfigError(
      `${c.where}: could not create ${kind} "${type}": ${describeError(err)}`,
      { cause: err },
    );
  }
}

/** `--lock`/`--frozen` flags for a child, from {@linkcode writeRunLock}. */
export interface RunLock {
  /** The generated Deno lockfile. */
  path: string;
  /** `deno run` flags that make the child load only what it pins. */
  flags: string[];
}

/**
 * Write the Deno lockfile a least-privilege child (or the planner) runs
 * under: flowyml's own `deno.lock` plus every module and npm package pinned in
 * `flowyml.lock`, plus `remote` (e.g. the pipeline's own remote imports,
 * hashed by the parent). The child runs it with `--frozen`, so a module that
 * is not pinned (a computed `import()` of any other URL) is refused.
 * Content-addressed under `.flowyml/locks/`, so concurrent runs never race.
 * `undefined` when flowyml does not run from files (no `deno.json` to start from).
 */
export async function writeRunLock(
  config: FlowymlConfig,
  lock: Lockfile,
  options: { remote?: Record<string, string> } = {},
): Promise<RunLock | undefined> {
  const cfg = await installConfig();
  if (!cfg) return undefined;
  const remote = { ...pinnedRemoteModules(lock), ...options.remote };
  const npm = pinnedNpmPackages(lock);
  const basePath = installLockfile();
  // Nothing to add (built-in components, a pipeline without remote imports): flowyml's own
  // lockfile is the run's, read-only under --frozen (≈ 5 ms of a cold start less).
  if (!Object.keys(remote).length && !npm.length && basePath) {
    return { path: basePath, flags: [`--lock=${basePath}`, "--frozen"] };
  }
  let base: Record<string, unknown> = { version: "5" };
  try {
    if (basePath) base = JSON.parse(await Deno.readTextFile(basePath));
  } catch {
    // an unreadable deno.lock beside flowyml's deno.json: pins only
  }
  const key = sha256Hex(new TextEncoder().encode(JSON.stringify({ base, remote, npm })));
  const path = resolve(projectStateDir(config), "locks", `${key.slice(0, 24)}.deno.lock`);
  try {
    await Deno.stat(path);
  } catch {
    await writeDenoLock(path, { base, remote, npm });
  }
  return { path, flags: [`--lock=${path}`, "--frozen"] };
}

/** Options of {@linkcode planComponentNeeds}. */
export interface PlanOptions {
  /** The verified (not imported) lockfile. */
  lock: Lockfile;
  /** The frozen lockfile the planner runs under. */
  runLock?: RunLock;
}

/**
 * The needs of every component of the stack. With locked component modules,
 * they are imported and asked only in the planner process (no write, net,
 * run, sys, ffi or env access beyond flowyml's own two variables); with
 * built-in components only, nothing untrusted runs and they are asked here.
 */
export async function planComponentNeeds(
  config: FlowymlConfig,
  stackName: string,
  options: PlanOptions,
): Promise<PermissionReason[]> {
  if (!options.lock.components.length) return await componentNeedsHere(config, stackName);
  const exe = runnableDeno();
  if (!exe) {
    throw new ComponentError(
      "cannot plan permissions: the stack uses component modules from flowyml.lock, whose " +
        "code flowyml runs only in a planner process without permissions, and this process " +
        "may not start deno",
      { hint: `run flowyml with --allow-run=${Deno.execPath()}` },
    );
  }
  const lockPath = lockfilePath(config);
  const root = installRoot();
  const access = options.lock.components.map((rec) => lockedModuleAccess(rec, lockPath));
  const flags = toDenoFlags({
    read: [...(root ? [root] : []), ...access.flatMap((a) => a.files)],
    write: [],
    net: [],
    env: CLI_ENV,
    run: [],
    import: [...new Set(access.flatMap((a) => a.hosts))].sort(),
    sys: [],
    ffi: [],
  }, { noPrompt: true });
  const cfg = await installConfig();
  const args = [
    "run",
    ...flags,
    ...(cfg ? [`--config=${cfg}`] : []),
    // Its graph holds every module flowyml loads on demand: a check of all their npm packages.
    ...(cfg && nodeModulesReady(options.lock) ? ["--node-modules-dir=manual"] : []),
    ...options.runLock?.flags ?? [],
  ];
  args.push(fileURLToPath(new URL("./plan_main.ts", import.meta.url)));
  const nonce = `@@flowyml-plan-${crypto.randomUUID()}@@`;
  const request: PlanRequest = {
    nonce,
    config,
    stack: stackName,
    lockPath,
    components: options.lock.components.map((c) => ({ source: c.source, name: c.name })),
  };
  return await runPlanner(exe, args, request);
}

async function runPlanner(
  exe: string,
  args: string[],
  request: PlanRequest,
): Promise<PermissionReason[]> {
  const child = new Deno.Command(exe, { args, stdin: "piped", stdout: "piped", stderr: "piped" })
    .spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(JSON.stringify(request)));
  await w.close();
  const out = await child.output();
  const dec = new TextDecoder();
  const lines = dec.decode(out.stdout).split("\n");
  const planLine = lines.findLast((l) => l.startsWith(request.nonce));
  // Anything else the planner or the modules printed is shown, escaped, on stderr.
  const noise = [
    ...lines.filter((l) => l && !l.startsWith(request.nonce)),
    ...dec.decode(out.stderr).split("\n").filter(Boolean),
  ];
  for (const l of noise) console.error(safeText(l));
  let plan: Plan | undefined;
  if (planLine) {
    try {
      plan = await parsePlan(planLine.slice(request.nonce.length));
    } catch (err) {
      throw new ComponentError(
        `the permission planner printed an invalid plan: ${describeError(err)}`,
      );
    }
  }
  if (!plan?.reasons) {
    const why = plan?.error ?? `the planner exited with code ${out.code} (its output is above)`;
    throw new ComponentError(
      `could not plan the permissions of the stack's components: ${why}`,
      {
        hint: "the planner imports the modules of flowyml.lock with no write, net, run, sys or " +
          "env access; a component module must not need them at import time or in " +
          "permissions(). Check it with `flowyml component show <name>`",
      },
    );
  }
  return plan.reasons;
}

/**
 * Fill the plugin cache for every WASM plugin of the config (download,
 * verify against its pinned sha256, check, instrument), so a child that may
 * only read the cache finds them prepared. A plugin that cannot be prepared is
 * reported and left to fail, with the same error, in the step that uses it.
 */
export async function prepareWasmPlugins(
  config: FlowymlConfig,
  options: { quiet?: boolean } = {},
): Promise<void> {
  const entries = Object.entries(config.plugins);
  if (!entries.length) return;
  // The sandbox's loader and grants (and zod) only for a project that has WASM plugins.
  const { parsePluginConfig } = await lazyImport<typeof import("../kernel/sandbox/grants.ts")>(
    new URL("../kernel/sandbox/grants.ts", import.meta.url),
  );
  const { loadPlugin } = await lazyImport<typeof import("../kernel/sandbox/loader.ts")>(
    new URL("../kernel/sandbox/loader.ts", import.meta.url),
  );
  for (const [name, raw] of entries) {
    try {
      const cfg = parsePluginConfig(name, raw, config.path);
      await loadPlugin(name, cfg);
    } catch (err) {
      if (!options.quiet) {
        console.error(
          `warning: WASM plugin "${name}" could not be prepared: ${describeError(err)}`,
        );
      }
    }
  }
}
