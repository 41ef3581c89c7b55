/**
 * `flowyml compile --target vertex|kfp|airflow pipeline.ts`: write the
 * pipeline as an artefact another orchestrator runs. `vertex` and `kfp`
 * write a KFP v2 PipelineSpec (JSON); `airflow` writes an Airflow 3 DAG file.
 * Every step runs the built image with `flowyml step run`.
 * @module
 */
import type { Command } from "commander";
import { relative, resolve } from "node:path";
import { ConfigError } from "../../kernel/errors.ts";
import { importPipeline, openStack, parseParams } from "../_common.ts";

/** Flags of `compile`. */
interface CompileFlags {
  target: string;
  stack?: string;
  image?: string;
  param?: string[];
  output?: string;
  appDir: string;
  pipelineRoot?: string;
  dagId?: string;
  operator?: string;
}

const TARGETS = ["vertex", "kfp", "airflow"];

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

async function compile(file: string, flags: CompileFlags): Promise<string> {
  if (!TARGETS.includes(flags.target)) {
    throw new ConfigError(`unknown --target ${flags.target}`, {
      hint: `use ${TARGETS.join(", ")}`,
    });
  }
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
    const common = {
      image,
      stack: stack.name,
      pipelinePath: imagePath(file, flags.appDir),
      cli: `${flags.appDir}/cli/main.ts`,
      params: parseParams(flags.param),
    };
    if (flags.target === "airflow") {
      const { compileAirflowDag } = await import("../../plugins/airflow/dag.ts");
      return compileAirflowDag(pipeline, {
        ...common,
        dagId: flags.dagId,
        operator: flags.operator as "kubernetes" | "bash" | undefined,
      });
    }
    const { compilePipelineSpec } = await import("../../plugins/vertex/compile.ts");
    const spec = compilePipelineSpec(pipeline, {
      ...common,
      target: flags.target as "vertex" | "kfp",
      pipelineRoot: flags.pipelineRoot,
    });
    return JSON.stringify(spec, null, 2) + "\n";
  } finally {
    await stack.close();
  }
}

/** Register `flowyml compile`. */
export function registerCompileCommand(program: Command): void {
  program
    .command("compile")
    .description(
      "write a pipeline for another orchestrator: a KFP v2 PipelineSpec (vertex, kfp) or an " +
        "Airflow 3 DAG (airflow); every step runs the built image with `flowyml step run`",
    )
    .argument("<pipeline>", "pipeline module, e.g. examples/demo/pipeline.ts")
    .requiredOption("-t, --target <target>", "vertex | kfp | airflow")
    .option("-s, --stack <name>", "stack the steps use inside the image")
    .option("--image <ref>", "image of the steps (default: the stack orchestrator's image)")
    .option("-p, --param <k=v>", "run parameter, compiled as a pipeline parameter", collect)
    .option("-o, --output <file>", "write here (default: stdout)")
    .option("--app-dir <dir>", "where the project is in the image", "/app")
    .option("--pipeline-root <uri>", "vertex/kfp: defaultPipelineRoot, e.g. gs://bucket/root")
    .option("--dag-id <id>", "airflow: the DAG id (default: the pipeline name)")
    .option("--operator <kind>", "airflow: kubernetes (KubernetesPodOperator) or bash")
    .action(async (file: string, flags: CompileFlags) => {
      const text = await compile(file, flags);
      if (flags.output) await Deno.writeTextFile(flags.output, text);
      else await Deno.stdout.write(new TextEncoder().encode(text));
    });
}

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}
