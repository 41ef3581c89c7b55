/**
 * Config of the `container` orchestrator (ZenML's `local_docker`, daemonless):
 * every step attempt runs as its own podman container of the image `flowyml
 * image build` made. Kept free of process calls so configs validate cheaply.
 * @module
 */
import { z } from "zod";

/** The podman flags that work on a machine of this project's kind (see docs/orchestrators.md). */
export const DEFAULT_ULIMITS: Record<string, string> = {
  nofile: "4096:4096",
  nproc: "4096:4096",
};

/** Config schema of the container orchestrator. */
export const containerOrchestratorSchema = z.object({
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

/** Parsed container orchestrator config. */
export type ContainerConfig = z.output<typeof containerOrchestratorSchema>;
