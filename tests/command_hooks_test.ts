/**
 * Command hooks (kernel/commands.ts): the plugins' commands and compile
 * targets reach the CLI by declaration; a command's module loads only when
 * that command runs, and gets the CLI's parts through `CliServices`.
 * @module
 */
import assert from "node:assert/strict";
import type { Command } from "commander";
import { buildProgram, commandTable } from "../cli/main.ts";
import { type CliServices, compileTargets, registerCommand } from "../kernel/commands.ts";
import { ConfigError } from "../kernel/errors.ts";

Deno.test("command hooks: the built-in plugins' commands and compile targets join the CLI", () => {
  const { commands, aliases } = commandTable();
  for (const name of ["run", "runs", "compile", "ui", "worker", "image"]) {
    assert.ok(Object.hasOwn(commands, name), name);
  }
  assert.deepEqual(aliases, { workers: "worker" });
  assert.deepEqual(compileTargets().flatMap((t) => t.targets), ["vertex", "kfp", "airflow"]);
});

Deno.test("command hooks: a module loads only for its command and gets the CLI services", async () => {
  let loads = 0;
  let services: CliServices | undefined;
  const run = commandTable().commands.run;
  for (const name of ["hook-test", "run"]) {
    registerCommand({
      name,
      description: "a test command",
      load: () => {
        loads++;
        return Promise.resolve({
          register(program: unknown, s: CliServices) {
            services = s;
            (program as Command).command(name).action(() => {});
          },
        });
      },
    });
  }
  // A plugin cannot replace a built-in command.
  assert.equal(commandTable().commands.run, run);
  await buildProgram(["runs", "list"]);
  assert.equal(loads, 0, "another command loads no plugin command module");
  const program = await buildProgram(["hook-test"]);
  assert.equal(loads, 1);
  await program.parseAsync(["hook-test"], { from: "user" });
  assert.equal(services?.table(["a", "bb"], [["1", "2"]]), "a  bb\n-  --\n1  2");
  assert.equal(services?.ms(1500), "1.50 s");
  assert.deepEqual(services?.parseParams(["k=1"]), { k: 1 });
});

Deno.test("command hooks: an unknown compile target names the declared ones", async () => {
  const program = await buildProgram(["compile"]);
  await assert.rejects(
    program.parseAsync(["compile", "--target", "nope", "pipeline.ts"], { from: "user" }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /unknown --target nope/);
      assert.match(err.hint ?? "", /use vertex, kfp, airflow/);
      return true;
    },
  );
});
