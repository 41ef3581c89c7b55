/**
 * `flowyml component list | show <name> | load <source> | update <name> | remove <source>`.
 *
 * `load` pins the integrity of the module graph in `flowyml.lock`; a later
 * load whose content changed is refused until `update` accepts it.
 * @module
 */
import type { Command } from "commander";
import { z } from "zod";
import { resolve } from "node:path";
import { configPath, loadConfig } from "../../kernel/config.ts";
import { ConfigError, describeError } from "../../kernel/errors.ts";
import { getComponentRegistry } from "../../kernel/registry.ts";
import { loadProject, table } from "../_common.ts";
import {
  findLocked,
  loadPersistedComponents,
  type LockedComponent,
  lockfilePath,
  pinSource,
  readLockfile,
  storedSource,
  syncDenoLocks,
  writeLockfile,
} from "../lockfile.ts";
import { installRoot } from "../install.ts";

/** Register the `component` commands; returns the command so others can add subcommands. */
export function registerComponentCommands(program: Command): Command {
  const component = program.command("component").description(
    "list, inspect and load stack components",
  );

  component.command("list").description("every registered component: kind, name, origin, version")
    .option("--json", "print JSON: kind, name, origin, version, source and pinned integrity")
    .action(listComponents);

  component.command("show").description("a component's config schema and its validate() result")
    .argument("<name>", "registry name, e.g. local, sqlite, minio")
    .option("-k, --kind <kind>", "kind, when several kinds share the name")
    .option(
      "-o, --option <k=v>",
      "config option to validate with; repeatable",
      (v, p: string[]) => [...p, v],
      [],
    )
    .action(showComponent);

  component.command("load").description(
    "load a component module, pin the integrity of its module graph and remember it",
  )
    .argument(
      "<source>",
      "file.ts, file.ts:ClassName, https://…/mod.ts, jsr:@scope/pkg@1.2.3 or npm:pkg@1.2.3",
    )
    .option("-n, --name <name>", "register the component under this name")
    .action(loadComponentCommand);

  component.command("update").description(
    "accept the current content of a loaded module and pin it again",
  )
    .argument(
      "<name|source>",
      "a component name it registered, or its source as given to `component load`",
    )
    .action(updateComponent);

  component.command("remove").description("forget a loaded component module")
    .argument("<source>", "the source as given to `component load`")
    .action(removeComponent);
  return component;
}

/** `component list`: every registered component, with its pin. */
async function listComponents(flags: { json?: boolean }): Promise<void> {
  const { lock } = await loadProject();
  const pinOf = (kind: string, type: string) =>
    lock.components.find((c) => c.entries.some((x) => x.kind === kind && x.type === type));
  const rows = getComponentRegistry().entries().map((e) => {
    const rec = pinOf(e.kind, e.type);
    return {
      kind: e.kind,
      name: e.type,
      origin: e.origin,
      version: e.version,
      source: rec?.source ?? e.source,
      integrity: rec?.integrity,
    };
  });
  if (flags.json) return console.log(JSON.stringify(rows, null, 2));
  console.log(table(
    ["kind", "name", "origin", "version", "source", "pinned"],
    rows.map((r) => [
      r.kind,
      r.name,
      r.origin,
      r.version ?? "",
      r.source ?? "",
      r.integrity ? `${r.integrity.slice(0, 19)}…` : "",
    ]),
  ));
}

/** `component show`: a component's config schema and its validate() result. */
async function showComponent(
  name: string,
  flags: { kind?: string; option: string[] },
): Promise<void> {
  await loadProject();
  const reg = getComponentRegistry();
  const found = reg.find(name).filter((e) => !flags.kind || e.kind === flags.kind);
  if (!found.length) {
    throw new ConfigError(`no component named "${name}"`, {
      hint: `see \`flowyml component list\`; known: ${reg.entries().map((e) => e.type).join(", ")}`,
    });
  }
  const opts: Record<string, unknown> = {};
  for (const kv of flags.option) {
    const i = kv.indexOf("=");
    opts[kv.slice(0, i)] = kv.slice(i + 1);
  }
  for (const e of found) {
    console.log(
      `${e.kind} "${e.type}"  (origin: ${e.origin}${e.version ? `, version ${e.version}` : ""}${
        e.source ? `, from ${e.source}` : ""
      })`,
    );
    const schema = await reg.schemaOf(e.kind, e.type);
    if (schema) {
      try {
        console.log(
          "config schema:\n" +
            JSON.stringify(
              // The local stack's schemas are the kernel's objectSchema (no zod): they render
              // themselves; zod schemas through zod.
              typeof (schema as { toJSONSchema?: unknown }).toJSONSchema === "function"
                ? (schema as unknown as { toJSONSchema(): unknown }).toJSONSchema()
                : z.toJSONSchema(schema as z.ZodType, { io: "input" }),
              null,
              2,
            ),
        );
      } catch {
        console.log("config schema: (not expressible as JSON Schema)");
      }
    } else console.log("config schema: (none declared)");
    try {
      const c = await reg.create(e.kind, e.type, opts);
      await c.validate();
      console.log(`validate(): ok  ${JSON.stringify(c.toDict())}`);
      await c.close();
    } catch (err) {
      console.log(`validate(): FAILED — ${describeError(err)}`);
    }
    console.log("");
  }
}

/** `component load`: load a module, pin its module graph, remember it in flowyml.lock. */
async function loadComponentCommand(source: string, flags: { name?: string }): Promise<void> {
  const config = await loadConfig(configPath());
  const path = lockfilePath(config);
  const stored = storedSource(path, source);
  const lock = await loadPersistedComponents(config, { skip: [stored] });
  const prev = lock.components.find((c) => c.source === stored);
  const rec = await pin(path, stored, { name: flags.name ?? prev?.name, prev, update: false });
  lock.components = [...lock.components.filter((c) => c.source !== stored), rec];
  await writeLockfile(path, lock);
  for (const e of rec.entries) {
    console.log(
      `loaded ${e.kind} "${e.type}"${
        e.version ? ` ${e.version}` : ""
      } from ${source} (${rec.origin})`,
    );
  }
  console.log(
    `pinned ${rec.integrity} (${Object.keys(rec.modules ?? {}).length} module(s)) in ${path}`,
  );
}

/** `component update`: accept a loaded module's current content and pin it again. */
async function updateComponent(what: string): Promise<void> {
  const config = await loadConfig(configPath());
  const path = lockfilePath(config);
  const locked = await readLockfile(path);
  const found = findLocked(locked, what) ?? findLocked(locked, storedSource(path, what));
  if (!found) {
    throw new ConfigError(`no loaded module "${what}" in ${path}`, {
      hint: "see `flowyml component list`; load it first with `flowyml component load <source>`",
    });
  }
  const lock = await loadPersistedComponents(config, { skip: [found.source] });
  const rec = await pin(path, found.source, { name: found.name, prev: found, update: true });
  lock.components = lock.components.map((c) => c.source === found.source ? rec : c);
  await writeLockfile(path, lock);
  if (rec.integrity === found.integrity) {
    console.log(`${found.source} is unchanged: ${rec.integrity}`);
  } else {
    console.log(
      `updated ${found.source}\n  was: ${
        found.integrity ?? "(not pinned)"
      }\n  now: ${rec.integrity}`,
    );
  }
  for (const e of rec.entries) {
    console.log(`  ${e.kind} "${e.type}"${e.version ? ` ${e.version}` : ""}`);
  }
}

/** `component remove`: forget a loaded module. */
async function removeComponent(source: string): Promise<void> {
  const config = await loadConfig(configPath());
  const path = lockfilePath(config);
  const lock = await readLockfile(path);
  const before = lock.components.length;
  const rec = findLocked(lock, source) ?? findLocked(lock, storedSource(path, source));
  lock.components = lock.components.filter((c) => c !== rec);
  if (lock.components.length === before) {
    throw new ConfigError(`${source} is not in ${path}`, {
      hint: "see `flowyml component list`",
    });
  }
  await writeLockfile(path, lock);
  console.log(`removed ${source} from ${path}`);
}

/** Pin `source` (see `pinSource`) and point Deno's own lockfiles at the new remote hashes. */
async function pin(
  lockPath: string,
  source: string,
  options: { name?: string; prev?: LockedComponent; update: boolean },
): Promise<LockedComponent> {
  const rec = await pinSource(lockPath, source, options);
  const root = installRoot();
  await syncDenoLocks([resolve("deno.lock"), ...(root ? [resolve(root, "deno.lock")] : [])], {
    before: options.prev?.modules ?? {},
    after: rec.modules ?? {},
  });
  return rec;
}
