/**
 * `flowyml stack list | show <name> | validate <name>`.
 * @module
 */
import type { Command } from "commander";
// @ts-types="@types/js-yaml"
import { dump as stringify } from "js-yaml";
import { COMPONENT_KINDS } from "../../kernel/component.ts";
import { stackConfig } from "../../kernel/config.ts";
import { buildStack } from "../../kernel/stack.ts";
import { loadProject, table } from "../_common.ts";

/** Register the `stack` commands. */
export function registerStackCommands(program: Command): void {
  const stack = program.command("stack").description(
    "list, show and validate stacks from flowyml.yaml",
  );
  stack.command("list").description("list the stacks")
    .option("--json", "print the stacks as JSON: name, default, config file, components")
    .action(async (flags: { json?: boolean }) => {
      const { config } = await loadProject();
      const names = ["local", ...Object.keys(config.stacks)].filter((v, i, a) =>
        a.indexOf(v) === i
      );
      const def = config.default_stack ?? "local";
      if (flags.json) {
        // Component types only, as in the table: options may hold interpolated secrets.
        const stacks = names.map((n) => {
          const s = stackConfig(config, n);
          const components = Object.fromEntries(
            COMPONENT_KINDS.filter((k) => s[k]).map((k) => [k, s[k]!.type]),
          );
          return { name: n, default: n === def, components };
        });
        console.log(JSON.stringify({ config: config.path ?? null, stacks }, null, 2));
        return;
      }
      console.log(table(
        ["", "stack", "orchestrator", "artifact_store", "metadata_store", "container_registry"],
        names.map((n) => {
          const s = stackConfig(config, n);
          return [
            n === def ? "*" : "",
            n,
            s.orchestrator?.type ?? "",
            s.artifact_store?.type ?? "",
            s.metadata_store?.type ?? "",
            s.container_registry?.type ?? "",
          ];
        }),
      ));
    });
  stack.command("show").description("show a stack's components and config (never secrets)")
    .argument("<name>").action(async (name: string) => {
      const { config } = await loadProject();
      const s = await buildStack(config, name);
      console.log(stringify({ [name]: s.toDict() }).trimEnd());
      await s.close();
    });
  stack.command("validate").description("check every component of a stack can work")
    .argument("<name>").action(async (name: string) => {
      const { config } = await loadProject();
      const s = await buildStack(config, name);
      try {
        await s.validate();
        for (const [kind, c] of s.components()) console.log(`  ✓ ${kind.padEnd(18)} ${c.name}`);
        console.log(`stack "${name}" is valid`);
      } finally {
        await s.close();
      }
    });
}
