/**
 * `flowyml component list | show <name> | load <source> | remove <source>`.
 * @module
 */
import type { Command } from "commander";
import { z } from "zod";
import { describeError, ConfigError } from "../../kernel/errors.ts";
import { getComponentRegistry, originOf } from "../../kernel/registry.ts";
import { loadProject, table } from "../_common.ts";
import { lockfilePath, readLockfile, writeLockfile } from "../lockfile.ts";

/** Register the `component` commands; returns the command so others can add subcommands. */
export function registerComponentCommands(program: Command): Command {
  const component = program.command("component").description("list, inspect and load stack components");

  component.command("list").description("every registered component: kind, name, origin, version")
    .action(async () => {
      await loadProject();
      const reg = getComponentRegistry();
      console.log(table(
        ["kind", "name", "origin", "version", "source"],
        reg.entries().map((e) => [e.kind, e.type, e.origin, e.version ?? "", e.source ?? ""]),
      ));
    });

  component.command("show").description("a component's config schema and its validate() result")
    .argument("<name>", "registry name, e.g. local, sqlite, minio")
    .option("-k, --kind <kind>", "kind, when several kinds share the name")
    .option("-o, --option <k=v>", "config option to validate with; repeatable", (v, p: string[]) => [...p, v], [])
    .action(async (name: string, flags: { kind?: string; option: string[] }) => {
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
        console.log(`${e.kind} "${e.type}"  (origin: ${e.origin}${e.version ? `, version ${e.version}` : ""}${
          e.source ? `, from ${e.source}` : ""
        })`);
        if (e.schema) {
          try {
            console.log("config schema:\n" + JSON.stringify(z.toJSONSchema(e.schema as z.ZodType, { io: "input" }), null, 2));
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
    });

  component.command("load").description("load a component module and remember it for later commands")
    .argument("<source>", "file.ts, file.ts:ClassName, https://…/mod.ts, jsr:@scope/pkg or npm:pkg")
    .option("-n, --name <name>", "register the component under this name")
    .action(async (source: string, flags: { name?: string }) => {
      const config = await loadProject();
      const reg = getComponentRegistry();
      const entries = await reg.loadComponent(source, flags.name);
      const path = lockfilePath(config);
      const lock = await readLockfile(path);
      const rec = {
        source,
        name: flags.name,
        entries: entries.map((e) => ({ kind: e.kind, type: e.type, version: e.version })),
        loadedAt: new Date().toISOString(),
      };
      lock.components = [...lock.components.filter((c) => c.source !== source), rec];
      await writeLockfile(path, lock);
      for (const e of entries) console.log(`loaded ${e.kind} "${e.type}" from ${source} (${originOf(source)})`);
      console.log(`recorded in ${path}`);
    });

  component.command("remove").description("forget a loaded component module")
    .argument("<source>", "the source as given to `component load`")
    .action(async (source: string) => {
      const config = await loadProject().catch(() => undefined);
      const path = lockfilePath(config);
      const lock = await readLockfile(path);
      const before = lock.components.length;
      lock.components = lock.components.filter((c) => c.source !== source);
      if (lock.components.length === before) {
        throw new ConfigError(`${source} is not in ${path}`, { hint: "see `flowyml component list`" });
      }
      await writeLockfile(path, lock);
      console.log(`removed ${source} from ${path}`);
    });
  return component;
}
