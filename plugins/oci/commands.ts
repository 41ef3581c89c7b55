/**
 * `flowyml image build --stack X pipeline.ts`: build an OCI image of the
 * pipeline project without Docker and push it through the stack's container
 * registry. With `--run <id>`, the digest is recorded on that run. `flowyml
 * image base` makes a base image on this machine. The oci plugin's command,
 * contributed through a command hook (kernel/commands.ts, declared in
 * ./register.ts); the CLI's parts come through {@linkcode CliServices}.
 * @module
 */
import type { Command } from "commander";
import type { CliServices } from "../../kernel/commands.ts";
import { ConfigError } from "../../kernel/errors.ts";

/** Options of `image build`. */
interface BuildFlags {
  stack?: string;
  name?: string;
  tag?: string;
  base?: string;
  root?: string;
  vendor: boolean;
  denoDir?: string;
  exclude?: string[];
  push: boolean;
  run?: string;
  json?: boolean;
}

/** Register `flowyml image build` and `flowyml image base` (its `CommandModule` hook). */
export function register(program: Command, { openStack }: CliServices): void {
  const image = program.command("image").description(
    "container images of pipelines (no Docker needed)",
  );
  image
    .command("build")
    .description(
      "assemble an OCI image (base image + a layer with the project, deno.json, deno.lock, " +
        "node_modules) and push it through the stack's container registry",
    )
    .argument("<pipeline>", "pipeline module, e.g. examples/demo/pipeline.ts")
    .option("-s, --stack <name>", "stack whose container_registry is used")
    .option("--name <name>", "image name (default: the pipeline file name)")
    .option("--tag <tag>", "image tag (default: derived from the layer digest)")
    .option("--base <ref>", "base image reference, or `scratch`", "docker.io/denoland/deno:2.9.6")
    .option("--root <dir>", "project root (default: current folder)")
    .option("--no-vendor", "leave node_modules out of the layer")
    .option("--deno-dir <dir>", "a DENO_DIR cache to include at /app/.deno_dir")
    .option("--exclude <path>", "leave a top-level path out; repeatable", collect, [])
    .option("--no-push", "build into the local image store only")
    .option("--run <runId>", "record the image digest on this run")
    .option("--json", "print the result as JSON")
    .action(async (pipeline: string, flags: BuildFlags) => {
      const { stack } = await openStack(flags.stack);
      try {
        const reg = stack.containerRegistry;
        if (!reg) {
          throw new ConfigError(`stack "${stack.name}" has no container_registry`, {
            hint: "add `container_registry: { type: oci, uri: host/namespace }` to the stack",
          });
        }
        const { buildImage, recordImageOnRun } = await import("./image_build.ts");
        const { OCIContainerRegistry } = await import("./container_registry.ts");
        if (!(reg instanceof OCIContainerRegistry)) {
          throw new ConfigError(
            `stack "${stack.name}": image build needs an OCI registry (types oci, gcr, ecr, dockerhub)`,
          );
        }
        const img = await buildImage({
          registry: reg,
          pipeline,
          name: flags.name,
          tag: flags.tag,
          baseImage: flags.base,
          root: flags.root,
          vendor: flags.vendor,
          denoDir: flags.denoDir,
          exclude: flags.exclude,
          push: flags.push,
        });
        const image = `${reg.getImageUri(img.name, img.tag)}@${img.digest}`;
        if (flags.run) await recordImageOnRun(stack.metadataStore, flags.run, image);
        if (flags.json) {
          console.log(JSON.stringify({ ...img, image, pushed: flags.push }, null, 2));
        } else {
          console.log(
            `built ${img.name}:${img.tag} (${img.entries} entries, layer ${img.layer.size} bytes)`,
          );
          console.log(`${flags.push ? "pushed" : "stored"} ${image}`);
          if (flags.run) console.log(`recorded on run ${flags.run}`);
        }
      } finally {
        await stack.close();
      }
    });
  registerBaseCommand(image, openStack);
}

/** `flowyml image base`: deno + the libraries ldd lists, pushed (for air-gapped machines). */
function registerBaseCommand(image: Command, openStack: CliServices["openStack"]): void {
  image
    .command("base")
    .description(
      "make a base image on this machine (the deno binary plus the shared libraries ldd lists) " +
        "and push it through the stack's container registry; use it with image build --base",
    )
    .option("-s, --stack <name>", "stack whose container_registry is used")
    .option("--name <name>", "image name", "flowyml-base")
    .option("--tag <tag>", "image tag (default deno-<version>)")
    .option("--deno <path>", "deno binary to put in (default: the one running)")
    .option("--no-push", "build into the local image store only")
    .option("--json", "print the result as JSON")
    .action(async (flags: BaseFlags) => {
      const { stack } = await openStack(flags.stack);
      try {
        const { OCIContainerRegistry } = await import("./container_registry.ts");
        const reg = stack.containerRegistry;
        if (!(reg instanceof OCIContainerRegistry)) {
          throw new ConfigError(`stack "${stack.name}" has no OCI container_registry`, {
            hint: "add `container_registry: { type: oci, uri: host/namespace }` to the stack",
          });
        }
        const { buildBaseImage } = await import("./base_image.ts");
        const img = await buildBaseImage({ registry: reg, ...flags });
        if (flags.json) console.log(JSON.stringify(img, null, 2));
        else {console.log(
            `${flags.push ? "pushed" : "stored"} ${img.uri} (${img.files.length} entries)`,
          );}
      } finally {
        await stack.close();
      }
    });
}

/** Options of `image base`. */
interface BaseFlags {
  stack?: string;
  name: string;
  tag?: string;
  deno?: string;
  push: boolean;
  json?: boolean;
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}
