/**
 * `flowyml artifacts verify [--run R] [--stack S]`: hash every stored
 * artifact of a stack (or of one run) and list those that are missing or do
 * not match their recorded hash; exits 1 when any is bad.
 * @module
 */
import type { Command } from "commander";
import { verifyArtifacts } from "../../kernel/verify.ts";
import { openStack, table } from "../_common.ts";

/** Register the `artifacts` commands. */
export function registerArtifactsCommands(program: Command): void {
  const artifacts = program.command("artifacts").description("inspect stored artifacts");
  artifacts.command("verify")
    .description(
      "hash every artifact of the stack (or of one run) and list missing or corrupt ones; " +
        "exit 1 if any",
    )
    .option("-s, --stack <name>", "stack whose stores to check")
    .option("--run <runId>", "only the artifacts of this run")
    .action(async (flags: { stack?: string; run?: string }) => {
      const { stack } = await openStack(flags.stack);
      try {
        const all = await verifyArtifacts(stack, { runId: flags.run });
        const bad = all.filter((o) => o.check.status !== "ok");
        const where = flags.run ? `run ${flags.run}` : `stack "${stack.name}"`;
        if (bad.length) {
          console.log(table(
            ["status", "object", "expected sha256", "found", "used by"],
            bad.map((o) => [
              o.check.status,
              o.uri,
              o.hash,
              o.check.status === "corrupt" ? o.check.actual : "-",
              o.usedBy.join(", ") || "-",
            ]),
          ));
          console.log(
            `\n${bad.length} of ${all.length} artifact(s) of ${where} are bad. ` +
              "They are never served: the cache re-runs the steps that made them. " +
              "Restore them, or delete them and re-run the pipeline.",
          );
          Deno.exitCode = 1;
        } else {
          console.log(`${all.length} artifact(s) of ${where} verified: all match their hashes`);
        }
      } finally {
        await stack.close();
      }
    });
}
