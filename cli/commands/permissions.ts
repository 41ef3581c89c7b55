/**
 * `flowyml permissions --stack <name> [pipeline.ts]`: the minimal `deno run`
 * flags (or deno.json permission set) a pipeline run on a stack needs, as
 * the least-privilege launcher (cli/launcher.ts) computes them for `flowyml run`:
 * each component's `permissions()`, the config file, the pinned plugins and
 * the pipeline module's own local imports.
 * @module
 */
import type { Command } from "commander";
import { resolve } from "node:path";
import { ConfigError } from "../../kernel/errors.ts";
import { PERMISSION_KINDS, toPermissionSet } from "../../kernel/permissions.ts";
import { computePermissions, installRoot, loadLaunchProject } from "../launcher.ts";
import { rel } from "../_needs.ts";
import { stackNameOf } from "../../kernel/config.ts";

/** Register `flowyml permissions`. */
export function registerPermissionsCommand(program: Command): void {
  program.command("permissions")
    .description("print the minimal `deno run` permission flags a stack (and pipeline) needs")
    .argument("[pipeline]", "pipeline module, so its local imports are readable")
    .option("-s, --stack <name>", "stack from flowyml.yaml (default: default_stack, else local)")
    .option("--format <format>", "flags | deno-json | json", "flags")
    .option("--explain", "also list who needs what")
    .action(
      async (
        pipeline: string | undefined,
        flags: { stack?: string; format: string; explain?: boolean },
      ) => {
        // Verified, not imported: their code runs only in the planner process.
        const { config, lock } = await loadLaunchProject();
        const stackName = stackNameOf(config, flags.stack);
        const p = await computePermissions(config, stackName, { pipeline, lock });
        if (flags.explain) {
          for (const r of p.reasons) {
            const parts = PERMISSION_KINDS.filter((k) => r.needs[k]?.length).map((k) =>
              `${k}: ${r.needs[k]!.join(", ")}`
            );
            console.log(`# ${r.by}: ${parts.join("; ")}`);
          }
        }
        if (flags.format === "flags") {
          console.log(p.flags.join(" "));
          if (flags.explain) {
            const main = installRoot()
              ? rel(resolve(installRoot()!, "cli/main.ts"))
              : "cli/main.ts";
            console.log(
              `# e.g.: deno run ${p.flags.join(" ")} ${main} run --inherit-permissions ${
                pipeline ?? "<pipeline.ts>"
              }`,
            );
          }
        } else if (flags.format === "deno-json") {
          const set = toPermissionSet(p.needs);
          for (const k of ["read", "write"]) {
            if (Array.isArray(set[k])) set[k] = (set[k] as string[]).map((x) => resolve(x));
          }
          console.log(JSON.stringify({ permissions: { flowyml: set } }, null, 2));
        } else if (flags.format === "json") {
          console.log(
            JSON.stringify(
              { stack: stackName, flags: p.flags, needs: p.needs, reasons: p.reasons },
              null,
              2,
            ),
          );
        } else {
          throw new ConfigError(`--format ${flags.format} is unknown`, {
            hint: "use flags, deno-json or json",
          });
        }
      },
    );
}
