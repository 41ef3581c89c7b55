/**
 * The podman command lines of the container orchestrator, as pure functions
 * (tested without podman), plus running one and collecting its output.
 * @module
 */
import type { ResourceConfig } from "../../kernel/component.ts";
import { ConfigError } from "../../kernel/errors.ts";
import type { ContainerConfig } from "./config.ts";

/** Global podman flags (before the subcommand). */
function globalArgs(cfg: ContainerConfig): string[] {
  return ["--runtime", cfg.runtime, "--cgroup-manager", cfg.cgroup_manager];
}

/** `8Gi` → `8g`, `512Mi` → `512m`, `1G` → `1000m`; podman's units are binary. */
export function podmanMemory(mem: string): string {
  const m = /^(\d+(?:\.\d+)?)\s*(Ki|Mi|Gi|Ti|K|M|G|T|k|m|g|b)?$/.exec(mem.trim());
  if (!m) {
    throw new ConfigError(`resources.memory "${mem}" is not a size`, {
      hint: 'write it as "512Mi" or "8Gi"',
    });
  }
  const n = Number(m[1]);
  const unit = m[2] ?? "b";
  const bytes: Record<string, number> = {
    b: 1,
    k: 1e3,
    K: 1e3,
    Ki: 1024,
    m: 1e6,
    M: 1e6,
    Mi: 1024 ** 2,
    G: 1e9,
    g: 1e9,
    Gi: 1024 ** 3,
    T: 1e12,
    Ti: 1024 ** 4,
  };
  return String(Math.round(n * bytes[unit]));
}

/** `--cpus`/`--memory` from a step's resources (GPUs are not mapped by this orchestrator). */
function resourceArgs(res: ResourceConfig | undefined): string[] {
  const out: string[] = [];
  if (res?.cpu !== undefined) out.push("--cpus", String(res.cpu));
  if (res?.memory) out.push("--memory", podmanMemory(res.memory));
  return out;
}

/** Whether `image`'s registry is local (plain http, no TLS verification by default). */
export function isLocalRegistry(image: string): boolean {
  const host = image.split("/")[0];
  return /^(localhost|127\.\d+\.\d+\.\d+)(:\d+)?$/.test(host);
}

/** `host/repo:tag@sha256:…` → `host/repo@sha256:…` (podman refuses a tag beside a digest). */
export function pullableRef(image: string): string {
  const at = image.indexOf("@");
  if (at < 0) return image;
  const name = image.slice(0, at);
  const colon = name.lastIndexOf(":");
  const bare = colon > name.lastIndexOf("/") ? name.slice(0, colon) : name;
  return `${bare}${image.slice(at)}`;
}

/** What one step container gets. */
export interface StepContainer {
  /** Container name. */
  name: string;
  /** Image reference. */
  image: string;
  /** Host folder mounted at /flowyml/io (task in, result out). */
  ioDir: string;
  /** Host config file mounted read-only at /flowyml/flowyml.yaml, if any. */
  configFile?: string;
  /** The `flowyml step run` arguments after the CLI module. */
  stepArgs: string[];
  /** Literal env. */
  env: Record<string, string>;
  /** Resources of the step. */
  resources?: ResourceConfig;
}

/** The full `podman … run …` argument list of one step container. */
export function runArgs(cfg: ContainerConfig, c: StepContainer): string[] {
  const args = [...globalArgs(cfg), "run", "--rm", "--name", c.name, "--pull", "never"];
  args.push("--network", cfg.network);
  for (const [k, v] of Object.entries(cfg.ulimits)) args.push("--ulimit", `${k}=${v}`);
  args.push(...resourceArgs(c.resources));
  args.push("-v", `${c.ioDir}:/flowyml/io`);
  if (c.configFile) {
    args.push("-v", `${c.configFile}:/flowyml/flowyml.yaml:ro`);
    args.push("--env", "FLOWYML_CONFIG=/flowyml/flowyml.yaml");
  }
  for (const [k, v] of Object.entries({ ...cfg.env, ...c.env })) args.push("--env", `${k}=${v}`);
  for (const k of cfg.pass_env) args.push("--env", k);
  args.push("--workdir", cfg.app_dir, "--entrypoint", "deno");
  args.push(...cfg.extra_args, pullableRef(c.image));
  args.push("run", "-A", cfg.cli, "step", "run", ...c.stepArgs);
  return args;
}

/** The `podman pull` arguments for `image`. */
export function pullArgs(cfg: ContainerConfig, image: string): string[] {
  const tls = cfg.tls_verify ?? !isLocalRegistry(image);
  return [...globalArgs(cfg), "pull", "--quiet", `--tls-verify=${tls}`, pullableRef(image)];
}

/** Output of a finished podman command. */
export interface PodmanResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run podman with `args`; `signal` kills the named container (`podman rm -f`). */
export async function podman(
  cfg: ContainerConfig,
  args: string[],
  options: { signal?: AbortSignal; container?: string } = {},
): Promise<PodmanResult> {
  const child = new Deno.Command(cfg.podman, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const kill = () => {
    if (!options.container) return;
    new Deno.Command(cfg.podman, {
      args: [...globalArgs(cfg), "rm", "-f", "-t", "2", options.container],
      stdout: "null",
      stderr: "null",
    }).output().catch(() => {});
  };
  options.signal?.addEventListener("abort", kill, { once: true });
  try {
    const out = await child.output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } finally {
    options.signal?.removeEventListener("abort", kill);
  }
}
