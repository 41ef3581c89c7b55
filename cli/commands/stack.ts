/**
 * `flowyml stack list | show <name> | validate <name>`.
 * @module
 */
import { type Command, Option } from "commander";
// @ts-types="@types/js-yaml"
import { dump as stringify } from "js-yaml";
import { COMPONENT_KINDS } from "../../kernel/component.ts";
import { stackConfig, stackConfigError, stackNameOf, stackNames } from "../../kernel/config.ts";
import { buildStack } from "../../kernel/stack.ts";
import { collect, loadProject, table } from "../_common.ts";
import { fileURLToPath } from "node:url";
import { runnableDeno } from "../install.ts";
import { launchChild, loadLaunchProject, parseGrants } from "../launcher.ts";
import { usesQueue } from "../child_env.ts";
import { exitIfStopped } from "../signals.ts";

/** Register the `stack` commands. */
export function registerStackCommands(program: Command): void {
  const stack = program.command("stack").description(
    "list, show and validate stacks from flowyml.yaml",
  );
  stack.command("list").description("list the stacks")
    .option("--json", "print the stacks as JSON: name, default, config file, components")
    .action(listStacks);
  stack.command("show").description("show a stack's components and config (never secrets)")
    .argument("<name>").action(async (name: string) => {
      const { config } = await loadProject();
      const s = await buildStack(config, name);
      console.log(stringify({ [name]: s.toDict() }).trimEnd());
      await s.close();
    });
  stack.command("validate").description("check every component of a stack can work")
    .argument("<name>")
    .option(
      "--inherit-permissions",
      "validate in this process with its permissions, not in a child holding the stack's",
    )
    .option(
      "-g, --grant <kind=resource>",
      "extra permission for the child, as for `flowyml run`, e.g. env=TOKEN; repeatable",
      collect,
      [] as string[],
    )
    .addOption(
      new Option("--verified-plugins", "internal: the parent already verified the plugins")
        .hideHelp(),
    )
    .action(
      async (name: string, flags: ValidateFlags) => {
        // Like `run`: the components are checked in a child holding exactly the permissions a run
        // on this stack gets, so this process needs no write access (an installed CLI).
        const exe = flags.inheritPermissions ? undefined : runnableDeno();
        if (exe) return await validateInChild(exe, name, flags.grant);
        const { config } = await loadProject({ verify: !flags.verifiedPlugins });
        const s = await buildStack(config, name);
        try {
          await s.validate();
          for (const [kind, c] of s.components()) console.log(`  ✓ ${kind.padEnd(18)} ${c.name}`);
          console.log(`stack "${name}" is valid`);
        } finally {
          await s.close();
        }
      },
    );
}

/** Flags of `stack validate`. */
interface ValidateFlags {
  inheritPermissions?: boolean;
  verifiedPlugins?: boolean;
  grant?: string[];
}

/**
 * `stack validate` in a child `deno run` started by the launcher, as a run's
 * child: the stack's computed permissions, the frozen lockfile, the limits
 * supervisor, a cleared environment for a queue stack, forwarded signals.
 */
async function validateInChild(exe: string, name: string, grant?: string[]): Promise<void> {
  const { config, lock } = await loadLaunchProject(); // verified, never imported here
  const main = new URL("../child_main.ts", import.meta.url); // the CLI, its graph loaded up front
  const end = await launchChild(exe, {
    config,
    lock,
    stack: name,
    grants: parseGrants(grant),
    clearEnv: usesQueue(config, name),
    main: main.protocol === "file:" ? fileURLToPath(main) : main.href,
    args: () => ["stack", "validate", name, "--inherit-permissions", "--verified-plugins"],
  });
  exitIfStopped(end);
}

/** `flowyml stack list`: every stack, the unavailable ones with why. */
async function listStacks(flags: { json?: boolean }): Promise<void> {
  const { config } = await loadProject();
  const names = stackNames(config);
  const def = stackNameOf(config);
  if (flags.json) {
    // Component types only, as in the table: options may hold interpolated secrets.
    const stacks = names.map((n) => {
      const broken = stackConfigError(config, n);
      if (broken) return { name: n, default: n === def, unavailable: broken.message };
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
      const broken = stackConfigError(config, n);
      if (broken) {
        // The first line, without the file and key prefix: `stack show <name>` says the rest.
        const why = broken.message.split("\n")[0].replace(/^.*?: /, "");
        return [n === def ? "*" : "", n, `unavailable: ${why}`, "", "", ""];
      }
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
}
