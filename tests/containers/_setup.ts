/**
 * Shared set-up of the container tests: the real servers (Debian
 * docker-registry, OpenStack Swift as S3, PostgreSQL), a base image made on
 * this machine (`flowyml image base`) and the project image on top of it
 * (`flowyml image build`), both pushed to the registry.
 * @module
 */
import assert from "node:assert/strict";
import { hasBinary, requireService, tempDir } from "../_helpers.ts";
import { REGISTRY_HOW, registryAvailable, startRegistry } from "../services/oci_registry.ts";
import { startS3, SWIFT_HOW, swiftAvailable } from "../services/s3.ts";
import { POSTGRES_HOW, postgresAvailable, startPostgres } from "../services/postgres.ts";

/** The repository root: `image build` packs it as /app. */
export const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

/** What the test image holds: the runtime parts of the repo (no docs, benches or SDK; node_modules whole, as Deno checks it against deno.lock). */
const PACK = [
  "mod.ts",
  "deno.json",
  "deno.lock",
  "flowyml.yaml",
  "kernel",
  "plugins",
  "cli",
  "examples",
  "tests/containers/fixtures",
  "node_modules",
];
/** Packages other tests install and remove meanwhile (not in deno.lock). */
const EXCLUDE = ["node_modules/.deno/flowyml-*", "node_modules/flowyml-*"];

/**
 * A snapshot of the repo's runtime parts in `dir` (other tests install into
 * node_modules meanwhile, so the live tree is not packed directly). GNU tar
 * skips files that vanish while it reads.
 */
export async function snapshotProject(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const cmd = [
    `tar -C '${ROOT}' -cf - ${EXCLUDE.map((x) => `--exclude='${x}'`).join(" ")}`,
    `--ignore-failed-read ${PACK.join(" ")} 2>/dev/null | tar -C '${dir}' -xf -`,
  ].join(" ");
  await new Deno.Command("sh", { args: ["-c", cmd] }).output();
  for (const f of ["mod.ts", "cli/main.ts", "examples/demo/pipeline.ts", "node_modules/zod"]) {
    await Deno.lstat(`${dir}/${f}`);
  }
}

/** Whether podman and the servers can run here (skips loudly; fails under CI=true). */
export function containersAvailable(): boolean {
  return requireService("podman", hasBinary("podman") && hasBinary("runc"), PODMAN_HOW) &&
    requireService("docker-registry", registryAvailable(), REGISTRY_HOW) &&
    requireService("OpenStack Swift (S3)", swiftAvailable(), SWIFT_HOW) &&
    requireService("PostgreSQL 15", postgresAvailable(), POSTGRES_HOW);
}

/** How to get podman, for skip messages. */
export const PODMAN_HOW = "bash .ci/install_services.sh installs podman runc";

/** `deno run -A cli/main.ts …` in the repo root with `FLOWYML_CONFIG`, waited for. */
export async function cli(config: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}/cli/main.ts`, ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1", FLOWYML_CONFIG: config, ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** The demo's save_best step writes .flowyml/models, outside the stack's stores. */
export const GRANTS = ["--grant", "write=.flowyml"];

/** What `flowyml runs show --json` prints, as far as the tests read it. */
export interface Shown {
  run: { runId: string; status: string; error?: string };
  steps: { step: string; status: string; worker?: string; error?: string }[];
  lineage: { step: string; direction: string; name: string; hash: string }[];
}

/** `runs show --json` of the run a `flowyml run` printed. */
export async function shownRun(
  config: string,
  stack: string,
  runOut: { stdout: string; stderr: string },
  env: Record<string, string>,
): Promise<Shown> {
  const m = /^run\s+(\S+)/m.exec(runOut.stdout);
  assert.ok(m, `no run id printed:\n${runOut.stdout}\n${runOut.stderr}`);
  const show = await cli(config, ["runs", "show", m[1], "--stack", stack, "--json"], env);
  assert.equal(show.code, 0, show.stderr);
  return JSON.parse(show.stdout) as Shown;
}

/** The run's output artifacts: `step.name` → content hash. */
export function outputs(s: Shown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of s.lineage) if (e.direction === "output") out[`${e.step}.${e.name}`] = e.hash;
  return out;
}

/** The running servers, the config file and the pushed project image. */
export interface ContainerEnv {
  tmp: string;
  config: string;
  image: string;
  baseImage: string;
  registryHost: string;
  s3: { endpoint: string; accessKey: string; secretKey: string; region: string };
  pg: (db: string) => Promise<string>;
  stop(): Promise<void>;
}

/** Stack blocks of the test config; `orchestrators` maps stack name → orchestrator block. */
export function stackYaml(
  e: Pick<ContainerEnv, "tmp" | "registryHost" | "s3">,
  stacks: Record<string, { orchestrator?: unknown; bucket: string; pg: string }>,
): string {
  const lines = ["stacks:"];
  for (const [name, s] of Object.entries(stacks)) {
    const store = {
      type: "minio",
      endpoint: e.s3.endpoint,
      bucket: s.bucket,
      region: e.s3.region,
      access_key: e.s3.accessKey,
      secret_key: { env: "TEST_S3_SECRET" },
      create_bucket: true,
    };
    lines.push(`  ${name}:`);
    if (s.orchestrator) lines.push(`    orchestrator: ${JSON.stringify(s.orchestrator)}`);
    lines.push(`    artifact_store: ${JSON.stringify(store)}`);
    lines.push(`    metadata_store: ${JSON.stringify({ type: "postgres", url: s.pg })}`);
    lines.push(
      `    container_registry: ${
        JSON.stringify({
          type: "oci",
          uri: `${e.registryHost}/flowyml`,
          image_store: `${e.tmp}/images`,
        })
      }`,
    );
  }
  return `${lines.join("\n")}\n${demoPluginsYaml()}`;
}

/** The demo's WASM plugin block, as in the repo's flowyml.yaml (paths relative to cwd). */
function demoPluginsYaml(): string {
  const text = Deno.readTextFileSync(`${ROOT}/flowyml.yaml`);
  const i = text.indexOf("\nplugins:");
  return i < 0 ? "" : text.slice(i + 1);
}

/** Start the servers, write a config with a `build` stack and push the base and project images. */
export async function setUpContainers(): Promise<ContainerEnv> {
  const t = await tempDir("flowyml-containers-");
  const [registry, s3, pg] = await Promise.all([startRegistry(), startS3(), startPostgres()]);
  const e = {
    tmp: t.path,
    registryHost: registry.host,
    s3: {
      endpoint: s3.endpoint,
      accessKey: s3.accessKey,
      secretKey: s3.secretKey,
      region: s3.region,
    },
  };
  const stop = async () => {
    // Images pulled from this test's registry (a new port each run) would pile up in podman.
    const refs =
      `podman images --format '{{.Repository}}:{{.Tag}}@{{.ID}}' | grep '^${registry.host}/'`;
    await new Deno.Command("sh", {
      args: ["-c", `${refs} | sed 's/.*@//' | xargs -r podman rmi -f`],
      stdout: "null",
      stderr: "null",
    }).output().catch(() => {});
    await Promise.all([registry.stop(), s3.stop(), pg.stop()]);
    await t.cleanup();
  };
  try {
    const config = `${t.path}/build.yaml`;
    const pgBuild = await pg.createDatabase("build");
    await Deno.writeTextFile(config, stackYaml(e, { build: { bucket: "build", pg: pgBuild } }));
    const env = { TEST_S3_SECRET: s3.secretKey };
    const base = await cli(config, ["image", "base", "--stack", "build", "--json"], env);
    assert.equal(base.code, 0, base.stderr);
    const baseImage = JSON.parse(base.stdout).uri as string;
    await snapshotProject(`${t.path}/project`);
    const args = ["image", "build", "--stack", "build", "--base", baseImage.split("@")[0]];
    args.push("--root", `${t.path}/project`);
    args.push("--name", "flowers", "--tag", "test", "--json", "examples/demo/pipeline.ts");
    const built = await cli(config, args, env);
    assert.equal(built.code, 0, built.stderr);
    const image = JSON.parse(built.stdout).image as string;
    return { ...e, config, image, baseImage, pg: (db) => pg.createDatabase(db), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
