/**
 * `flowyml run`'s options are read two ways from one table (cli/run_options.ts):
 * commander's `run` command, and the reader cli/main.ts uses for a plain
 * `flowyml run` without loading commander. Both must read alike; whatever the
 * reader does not take exactly (help, errors, unusual forms) goes to commander.
 * @module
 */
import assert from "node:assert/strict";
import { Command } from "commander";
import { registerRunCommand } from "../cli/commands/run.ts";
import { parseRunArgs } from "../cli/run_options.ts";

/** What commander makes of `run <args>`: the pipeline and the flags, or the error it raised. */
async function viaCommander(
  args: string[],
): Promise<{ file: string; flags: Record<string, unknown> } | { error: string }> {
  const program = new Command("flowyml").exitOverride();
  registerRunCommand(program);
  const run = program.commands.find((c) => c.name() === "run")!;
  run.exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  let seen: { file: string; flags: Record<string, unknown> } | undefined;
  run.action((file: string, flags: Record<string, unknown>) => {
    seen = { file, flags: { ...flags } };
  });
  try {
    await program.parseAsync(["run", ...args], { from: "user" });
  } catch (err) {
    return { error: (err as { code?: string }).code ?? String(err) };
  }
  return seen ?? { error: "no action" };
}

const PLAIN: string[][] = [
  ["pipeline.ts"],
  ["pipeline.ts", "--quiet"],
  ["-q", "pipeline.ts"],
  ["pipeline.ts", "--inherit-permissions", "--json"],
  ["pipeline.ts", "-s", "gcp", "--no-cache", "-c", "4"],
  ["pipeline.ts", "--stack=gcp", "--concurrency=2"],
  ["pipeline.ts", "-p", "a=1", "--param", "b=x", '--param=c={"d":2}'],
  ["pipeline.ts", "-g", "env=TOKEN", "--grant", "net=example.com:443", "--show-flags"],
  ["file:///tmp/p.ts", "--verified-plugins", "--run-lock", "/x.lock", "--json-marker", "M"],
  ["pipeline.ts", "-p", "k=v=w", "--stack", "a b"],
  ["-"],
];

Deno.test("run options: the plain forms read exactly as commander reads them", async () => {
  for (const args of PLAIN) {
    const fast = parseRunArgs(args);
    assert.ok(fast, `the reader left ${JSON.stringify(args)} to commander`);
    assert.deepEqual(
      { file: fast.file, flags: { ...fast.flags } },
      await viaCommander(args),
      JSON.stringify(args),
    );
  }
});

const LEFT_TO_COMMANDER: string[][] = [
  [],
  ["--help"],
  ["pipeline.ts", "-h"],
  ["pipeline.ts", "--stak", "x"], // misspelt
  ["pipeline.ts", "--stack"], // no value
  ["pipeline.ts", "-qs", "x"], // grouped short flags
  ["pipeline.ts", "-sx"], // attached short value
  ["pipeline.ts", "other.ts"], // too many arguments
  ["pipeline.ts", "--quiet=yes"],
  ["pipeline.ts", "--", "--quiet"],
  ["pipeline.ts", "--param", "-1"], // a value that looks like a flag
];

Deno.test("run options: help, errors and unusual forms are left to commander", async () => {
  for (const args of LEFT_TO_COMMANDER) {
    assert.equal(parseRunArgs(args), undefined, JSON.stringify(args));
  }
  // …which answers them as before: errors for the mistakes, help for --help.
  assert.deepEqual(await viaCommander(["pipeline.ts", "--stak", "x"]), {
    error: "commander.unknownOption",
  });
  assert.deepEqual(await viaCommander(["pipeline.ts", "--stack"]), {
    error: "commander.optionMissingArgument",
  });
  assert.deepEqual(await viaCommander(["--help"]), { error: "commander.helpDisplayed" });
});
