/**
 * Daemonless image build: assemble an OCI image of a pipeline project
 * without Docker. The image is a base image reference plus one layer
 * holding the project under `/app` (code, `deno.json`, `deno.lock`, the
 * vendored `node_modules/` and optionally a `DENO_DIR` cache), with an
 * entrypoint that runs the pipeline's steps. The layer is reproducible
 * (sorted entries, mtime 0), so an unchanged project gives the same digest.
 *
 * ```ts ignore
 * const reg = new OCIContainerRegistry({ uri: "127.0.0.1:5000/team" });
 * const img = await buildImage({ registry: reg, pipeline: "pipeline.ts", name: "demo" });
 * console.log(img.uri); // 127.0.0.1:5000/team/demo:<tag>@sha256:…
 * ```
 * @module
 */
import { basename, join, relative, resolve } from "node:path";
import { FlowymlError } from "../../kernel/errors.ts";
import type { MetadataStore } from "../../kernel/contracts.ts";
import { MEDIA } from "./client.ts";
import type { Descriptor, OciLayout } from "./layout.ts";
import { writeGzipLayer } from "./layer.ts";
import { type ImageManifest, OCIContainerRegistry } from "./container_registry.ts";
import { collectTree, type TarEntry } from "./tar.ts";

/** Options of {@linkcode buildImage}. */
export interface BuildImageOptions {
  /** Registry to push to (the stack's container registry). */
  registry: OCIContainerRegistry;
  /** Pipeline module, relative to `root` or absolute. */
  pipeline: string;
  /** Image name (default: the pipeline file's base name). */
  name?: string;
  /** Tag (default: the first 12 hex digits of the layer digest). */
  tag?: string;
  /** Project root (default: cwd). */
  root?: string;
  /**
   * Base image: `scratch`, or a reference `host/repo:tag` / `host/repo@sha256:…`
   * (default `docker.io/denoland/deno:2.9.6`).
   */
  baseImage?: string;
  /** Include `node_modules/` (the vendored npm dependencies). Default true. */
  vendor?: boolean;
  /** A DENO_DIR cache folder to put at `/app/.deno_dir` (sets `DENO_DIR`). */
  denoDir?: string;
  /** Extra top-level names or relative paths to leave out. */
  exclude?: string[];
  /** Override the entrypoint (default: run the pipeline with the flowyml CLI). */
  entrypoint?: string[];
  /** Push after building (default true). */
  push?: boolean;
  /** Credentials/options for pulling the base image from another registry. */
  baseRegistry?: OCIContainerRegistry;
}

/** What {@linkcode buildImage} produced. */
export interface BuiltImage {
  name: string;
  tag: string;
  /** Manifest digest. */
  digest: string;
  /** `host/repo:tag@digest` when pushed, else `host/repo:tag`. */
  uri: string;
  manifest: ImageManifest;
  /** The app layer's descriptor. */
  layer: Descriptor;
  /** Number of files and links in the app layer. */
  entries: number;
}

const DEFAULT_EXCLUDE = new Set([".git", ".flowyml", ".deno_dir"]);
const FIXED_TIME = "1970-01-01T00:00:00Z";

/** Parse `host/repo:tag` or `host/repo@digest` (Docker Hub short names allowed). */
export function parseImageRef(ref: string): { host: string; repo: string; reference: string } {
  let rest = ref;
  let host = "docker.io";
  const first = rest.split("/")[0];
  if (rest.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost")) {
    host = first;
    rest = rest.slice(first.length + 1);
  }
  let reference = "latest";
  const at = rest.indexOf("@");
  if (at >= 0) {
    reference = rest.slice(at + 1);
    rest = rest.slice(0, at);
  } else {
    const colon = rest.lastIndexOf(":");
    if (colon > rest.lastIndexOf("/")) {
      reference = rest.slice(colon + 1);
      rest = rest.slice(0, colon);
    }
  }
  if (host === "docker.io" && !rest.includes("/")) rest = `library/${rest}`;
  return { host, repo: rest, reference };
}

async function exists(p: string): Promise<boolean> {
  try {
    await Deno.stat(p);
    return true;
  } catch {
    return false;
  }
}

/** Build (and by default push) the image of a pipeline project. */
export async function buildImage(options: BuildImageOptions): Promise<BuiltImage> {
  const reg = options.registry;
  const { root, pipelineRel } = await checkProject(options);
  const name = options.name ?? basename(pipelineRel).replace(/\.[jt]sx?$/, "").toLowerCase();
  const layout = reg.layout(name);
  await layout.init();
  // 1. Base image: config and layers (pulled into the local layout, digests verified).
  const baseRef = options.baseImage ?? "docker.io/denoland/deno:2.9.6";
  const base = await pullBase(options, { name, baseRef, layout });
  // 2. The app layer: the project under /app, streamed through gzip to a blob.
  const entries = await appEntries(root, options);
  const { layer, diffId } = await writeGzipLayer(layout, entries);
  // 3. Image config: base config plus the app layer, workdir, env and entrypoint.
  const config = await imageConfig(base.config, { root, pipelineRel, baseRef, diffId, options });
  const configBlob = await layout.writeBlob(new TextEncoder().encode(JSON.stringify(config)));
  // 4. Manifest.
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    config: { mediaType: MEDIA.ociConfig, ...configBlob },
    layers: [...(base.manifest?.layers ?? []), layer],
    annotations: { "org.opencontainers.image.base.name": baseRef },
  };
  const manifestBlob = await layout.writeBlob(new TextEncoder().encode(JSON.stringify(manifest)));
  const desc: Descriptor = { mediaType: MEDIA.ociManifest, ...manifestBlob };
  const tag = options.tag ?? layer.digest.slice(7, 19);
  await layout.setRef(tag, desc);
  let uri = reg.getImageUri(name, tag);
  if (options.push !== false) uri = await reg.pushImage(name, tag);
  return { name, tag, digest: desc.digest, uri, manifest, layer, entries: entries.length };
}

/** The project root and the pipeline's path in it; refuses a pipeline outside or missing. */
async function checkProject(
  options: BuildImageOptions,
): Promise<{ root: string; pipelineRel: string }> {
  const root = resolve(options.root ?? Deno.cwd());
  const pipelineAbs = resolve(root, options.pipeline);
  const pipelineRel = relative(root, pipelineAbs);
  if (pipelineRel.startsWith("..")) {
    throw new FlowymlError(`pipeline ${options.pipeline} is outside the project root ${root}`);
  }
  if (!(await exists(pipelineAbs))) {
    throw new FlowymlError(`pipeline module ${pipelineAbs} does not exist`);
  }
  if (!(await exists(join(root, "deno.json")))) {
    throw new FlowymlError(`${root} has no deno.json`, {
      hint: "run image build from the project root (or pass root)",
    });
  }
  return { root, pipelineRel };
}

/** The base image's manifest and config, pulled into `layout` (`scratch`: none). */
async function pullBase(
  options: BuildImageOptions,
  at: { name: string; baseRef: string; layout: OciLayout },
): Promise<{ manifest?: ImageManifest; config: Record<string, unknown> }> {
  if (at.baseRef === "scratch") {
    return {
      config: {
        architecture: "amd64",
        os: "linux",
        config: {},
        rootfs: { type: "layers", diff_ids: [] },
        history: [],
      },
    };
  }
  const reg = options.registry;
  const b = parseImageRef(at.baseRef);
  const from = options.baseRegistry ??
    (b.host === reg.host ? reg : new OCIContainerRegistry({
      uri: b.host,
      auth: b.host === "docker.io" ? "dockerhub" : "none",
      image_store: join(reg.layout(at.name).root, ".."),
    }));
  const desc = await from.pullToLayout(
    b.repo,
    b.reference,
    at.layout,
    `base-${b.reference.replace(/[^\w.-]/g, "_")}`,
  );
  const dec = new TextDecoder();
  const manifest: ImageManifest = JSON.parse(dec.decode(await at.layout.readBlob(desc.digest)));
  const config = JSON.parse(dec.decode(await at.layout.readBlob(manifest.config.digest)));
  return { manifest, config };
}

/** The app layer's entries: the project under /app (and a Deno cache, when given). */
async function appEntries(root: string, options: BuildImageOptions): Promise<TarEntry[]> {
  const exclude = new Set([...DEFAULT_EXCLUDE, ...(options.exclude ?? [])]);
  if (options.vendor === false) exclude.add("node_modules");
  const entries: TarEntry[] = [{ name: "app", type: "dir" }];
  entries.push(...await collectTree(root, "app", { exclude: (rel) => exclude.has(rel) }));
  if (options.denoDir) {
    entries.push(
      { name: "app/.deno_dir", type: "dir" },
      ...await collectTree(resolve(options.denoDir), "app/.deno_dir"),
    );
  }
  return entries;
}

/** The image config: the base's, plus the app layer, workdir, env, entrypoint and labels. */
async function imageConfig(
  baseConfig: Record<string, unknown>,
  at: {
    root: string;
    pipelineRel: string;
    baseRef: string;
    diffId: string;
    options: BuildImageOptions;
  },
): Promise<Record<string, unknown>> {
  const { pipelineRel, options } = at;
  const cli = await exists(join(at.root, "cli", "main.ts"))
    ? "/app/cli/main.ts"
    : "jsr:@flowyml/flowyml/cli";
  const entrypoint = options.entrypoint ??
    ["deno", "run", "-A", cli, "run", `/app/${pipelineRel}`];
  const baseInner = (baseConfig.config ?? {}) as Record<string, unknown>;
  const env = ((baseInner.Env as string[] | undefined) ?? []).filter((e) =>
    !e.startsWith("DENO_DIR=")
  );
  if (options.denoDir) env.push("DENO_DIR=/app/.deno_dir");
  env.push(`FLOWYML_PIPELINE=/app/${pipelineRel}`);
  const rootfs = (baseConfig.rootfs ?? { type: "layers", diff_ids: [] }) as { diff_ids: string[] };
  return {
    ...baseConfig,
    created: FIXED_TIME,
    config: {
      ...baseInner,
      Env: env,
      WorkingDir: "/app",
      Entrypoint: entrypoint,
      Cmd: [],
      Labels: {
        ...((baseInner.Labels as Record<string, string> | undefined) ?? {}),
        "dev.flowyml.pipeline": pipelineRel,
        "dev.flowyml.base-image": at.baseRef,
      },
    },
    rootfs: { type: "layers", diff_ids: [...rootfs.diff_ids, at.diffId] },
    history: [
      ...((baseConfig.history as unknown[] | undefined) ?? []),
      { created: FIXED_TIME, created_by: `flowyml image build ${pipelineRel}` },
    ],
  };
}

/** Record an image digest on a run (`RunRecord.image`). */
export async function recordImageOnRun(
  store: MetadataStore,
  runId: string,
  image: string,
): Promise<void> {
  const run = await store.getRun(runId);
  if (!run) {
    throw new FlowymlError(`no run ${runId} in the metadata store`, {
      hint: "list runs with `flowyml runs list`",
    });
  }
  await store.updateRun(runId, { image });
}
