/**
 * Config of the `container` orchestrator (ZenML's `local_docker`, daemonless):
 * every step attempt runs as its own podman container of the image `flowyml
 * image build` made. Kept free of process calls so configs validate cheaply.
 * @module
 */
import { z } from "zod";
import type { Schema } from "../../kernel/schema.ts";

/** The podman flags that work on a machine of this project's kind (see docs/orchestrators.md). */
export const DEFAULT_ULIMITS: Record<string, string> = {
  nofile: "4096:4096",
  nproc: "4096:4096",
};

/** Parsed container orchestrator config (`orchestrator: { type: container, … }`). */
export interface ContainerConfig {
  /** Instance name (default `container`). */
  name?: string;
  /** Image of the steps, `host/repo:tag[@sha256:…]` (default: the run's `docker.image`). */
  image?: string;
  /** The podman binary (default `podman`). */
  podman: string;
  /** OCI runtime, `--runtime` (default `runc`). */
  runtime: string;
  /** `--cgroup-manager` (default `cgroupfs`, which works without systemd). */
  cgroup_manager: "cgroupfs" | "systemd";
  /**
   * `--network` (default `host`: reaches stores on the machine's loopback); `none` or a named
   * network otherwise.
   */
  network: string;
  /** `--ulimit name=soft:hard` per limit name (default `nofile` and `nproc` 4096:4096). */
  ulimits: Record<string, string>;
  /** Verify the registry's TLS when pulling (default: false only for localhost and 127.x). */
  tls_verify?: boolean;
  /** Pull policy, applied once per run before the first step (default `missing`). */
  pull: "always" | "missing" | "never" | "newer";
  /**
   * flowyml.yaml mounted read-only into each container (default: `$FLOWYML_CONFIG`, else
   * ./flowyml.yaml).
   */
  config_file?: string;
  /** Stack the step uses inside the container (default: the run's stack). */
  stack?: string;
  /** Folder `image build` packed as the image's `app_dir` (default: cwd). */
  project_root?: string;
  /** Where the project is in the image (default `/app`). */
  app_dir: string;
  /** The flowyml CLI module in the image (default `/app/cli/main.ts`). */
  cli: string;
  /** Literal env of every step (default none). */
  env: Record<string, string>;
  /**
   * Variables copied from the driver's environment by name (`--env NAME`: values never appear on
   * a command line); for secrets the stack config references (default none).
   */
  pass_env: string[];
  /** More `podman run` arguments (default none). */
  extra_args: string[];
  /** Lines of a failed container's output kept in the step's error (default 40). */
  log_lines: number;
}

const containerObject = z.object({
  name: z.string().optional(),
  image: z.string().optional().describe(
    "image of the steps, `host/repo:tag[@sha256:…]` (default: the run's docker.image)",
  ),
  podman: z.string().default("podman").describe("the podman binary"),
  runtime: z.string().default("runc").describe("OCI runtime (`--runtime`)"),
  cgroup_manager: z.enum(["cgroupfs", "systemd"]).default("cgroupfs")
    .describe("`--cgroup-manager`; cgroupfs works without systemd"),
  network: z.string().default("host").describe(
    "`--network`: host reaches stores on the machine's loopback; `none` or a named network otherwise",
  ),
  ulimits: z.record(z.string(), z.string()).default(DEFAULT_ULIMITS).describe(
    "`--ulimit name=soft:hard`; runc refuses to raise nofile/nproc past what podman itself has",
  ),
  tls_verify: z.boolean().optional().describe(
    "verify the registry's TLS when pulling (default: false only for localhost and 127.x)",
  ),
  pull: z.enum(["always", "missing", "never", "newer"]).default("missing")
    .describe("pull policy, applied once per run before the first step"),
  config_file: z.string().optional().describe(
    "flowyml.yaml mounted read-only into each container (default: $FLOWYML_CONFIG, else ./flowyml.yaml)",
  ),
  stack: z.string().optional().describe(
    "stack the step uses inside the container (default: the run's stack)",
  ),
  project_root: z.string().optional().describe(
    "folder `image build` packed as /app (default: cwd); maps the pipeline module to its image path",
  ),
  app_dir: z.string().default("/app").describe("where the project is in the image"),
  cli: z.string().default("/app/cli/main.ts").describe("the flowyml CLI module in the image"),
  env: z.record(z.string(), z.string()).default({}).describe("literal env of every step"),
  pass_env: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/)).default([]).describe(
    "variables copied from the driver's environment by name (`--env NAME`: values never " +
      "appear on a command line); use it for secrets the stack config references",
  ),
  extra_args: z.array(z.string()).default([]).describe("more `podman run` arguments"),
  log_lines: z.number().int().positive().default(40)
    .describe("lines of a failed container's output kept in the step's error"),
}).strict();

/** Config schema of the container orchestrator (parses to {@linkcode ContainerConfig}). */
export const containerOrchestratorSchema: Schema<ContainerConfig> = containerObject;
