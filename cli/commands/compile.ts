/**
 * `flowyml compile --target vertex|kfp|airflow pipeline.ts`: write the
 * pipeline as an artefact another orchestrator runs. `vertex` and `kfp`
 * write a KFP v2 PipelineSpec (JSON); `airflow` writes an Airflow 3 DAG file.
 * Every step runs the built image with `flowyml step run`. The targets are
 * compile target hooks (kernel/commands.ts) the plugins declare; a target's
 * module loads only when compiling for it.
 * @module
 */
import type { Command } from "commander";
import { relative, resolve } from "node:path";
import { type CompileTargetHook, compileTargets } from "../../kernel/commands.ts";
import { ConfigError } from "../../kernel/errors.ts";
import { collect, importPipeline, openStack, parseParams } from "../_common.ts";

/** Flags of `compile` (plus the targets' own, e.g. `pipelineRoot`, `dagId`). */
interface CompileFlags {
  target: string;
  stack?: string;
  image?: string;
  param?: string[];
  output?: string;
  appDir: string;
  [flag: string]: unknown;
}

/** The pipeline module's path inside the image: `<appDir>/<path relative to cwd>`. */
export function imagePath(file: string, appDir: string): string {
  const rel = relative(Deno.cwd(), resolve(file));
  if (rel.startsWith("..")) {
    throw new ConfigError(`${file} is outside the project (the current folder)`, {
      hint: "run compile from the folder `flowyml image build` packed",
    });
  }
  return `${appDir}/${rel}`;
}

/** The hook serving `target`, or a clear error naming the known targets. */
function targetHook(target: string): CompileTargetHook {
  const hooks = compileTargets();
  const hook = hooks.find((h) => h.targets.includes(target));
  if (!hook) {
    throw new ConfigError(`unknown --target ${target}`, {
      hint: `use ${hooks.flatMap((h) => h.targets).join(", ")}`,
    });
  }
  return hook;
}

async function compile(file: string, flags: CompileFlags): Promise<string> {
  const hook = targetHook(flags.target);
  const { stack } = await openStack(flags.stack);
  try {
    const orch = stack.orchestrator.toDict() as { image?: string };
    const image = flags.image ?? orch.image;
    if (!image) {
      throw new ConfigError("compile needs the image the steps run in", {
        hint: "pass --image (what `flowyml image build` printed) or set orchestrator.image",
      });
    }
    const pipeline = await importPipeline(file);
    return await (await hook.load()).compileTarget(pipeline, {
      target: flags.target,
      image,
      stack: stack.name,
      pipelinePath: imagePath(file, flags.appDir),
      cli: `${flags.appDir}/cli/main.ts`,
      params: parseParams(flags.param),
      flags,
    });
  } finally {
    await stack.close();
  }
}

/** Register `flowyml compile`. */
export function registerCompileCommand(program: Command): void {
  const hooks = compileTargets();
  const compileCommand = program
    .command("compile")
    .description(
      "write a pipeline for another orchestrator: a KFP v2 PipelineSpec (vertex, kfp) or an " +
        "Airflow 3 DAG (airflow); every step runs the built image with `flowyml step run`",
    )
    .argument("<pipeline>", "pipeline module, e.g. examples/demo/pipeline.ts")
    .requiredOption("-t, --target <target>", hooks.flatMap((h) => h.targets).join(" | "))
    .option("-s, --stack <name>", "stack the steps use inside the image")
    .option("--image <ref>", "image of the steps (default: the stack orchestrator's image)")
    .option("-p, --param <k=v>", "run parameter, compiled as a pipeline parameter", collect)
    .option("-o, --output <file>", "write here (default: stdout)")
    .option("--app-dir <dir>", "where the project is in the image", "/app");
  for (const o of hooks.flatMap((h) => h.options ?? [])) {
    compileCommand.option(o.flags, o.description);
  }
  compileCommand.action(async (file: string, flags: CompileFlags) => {
    const text = await compile(file, flags);
    if (flags.output) await Deno.writeTextFile(flags.output, text);
    else await Deno.stdout.write(new TextEncoder().encode(text));
  });
}
