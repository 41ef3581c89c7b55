/**
 * A base image made on this machine, for air-gapped use (`flowyml image
 * base`): one layer holding the `deno` binary and the shared libraries `ldd`
 * lists for it (the dynamic loader included), plus `/tmp`, `/etc/passwd` and
 * `/etc/group`. No Debian rootfs, no Docker Hub. `flowyml image build --base
 * <its uri>` then adds the project layer on top.
 *
 * ```ts ignore
 * const reg = new OCIContainerRegistry({ uri: "127.0.0.1:5000/team" });
 * const base = await buildBaseImage({ registry: reg });
 * console.log(base.uri); // 127.0.0.1:5000/team/flowyml-base:deno-2.9.6@sha256:…
 * ```
 * @module
 */
import { join } from "node:path";
import { FlowymlError } from "../../kernel/errors.ts";
import { MEDIA } from "./client.ts";
import type { ImageManifest, OCIContainerRegistry } from "./container_registry.ts";
import type { TarEntry } from "./tar.ts";
import { writeGzipLayer } from "./layer.ts";

/** Options of {@linkcode buildBaseImage}. */
export interface BaseImageOptions {
  /** Registry to push to (the stack's container registry). */
  registry: OCIContainerRegistry;
  /** The deno binary to put in (default: this process's `Deno.execPath()`). */
  deno?: string;
  /** Image name (default `flowyml-base`). */
  name?: string;
  /** Tag (default `deno-<version>`). */
  tag?: string;
  /** Push after building (default true). */
  push?: boolean;
}

/** What {@linkcode buildBaseImage} produced. */
export interface BaseImage {
  name: string;
  tag: string;
  digest: string;
  /** `host/repo:tag@digest` when pushed, else `host/repo:tag`. */
  uri: string;
  /** Files in the layer: the binary and the libraries, by path in the image. */
  files: string[];
}

const FIXED_TIME = "1970-01-01T00:00:00Z";

/** The shared libraries `ldd` lists for `binary`: `[path in image, real file on this machine]`. */
async function sharedLibraries(binary: string): Promise<[string, string][]> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("ldd", { args: [binary], stdout: "piped", stderr: "piped" })
      .output();
  } catch (err) {
    throw new FlowymlError(`cannot run ldd on ${binary}: ${err}`, {
      hint: "install libc-bin (it ships ldd), and run with --allow-run=ldd",
    });
  }
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new FlowymlError(`ldd ${binary} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  const libs: [string, string][] = [];
  for (const line of text.split("\n")) {
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.push([m[1].replace(/^\//, ""), await Deno.realPath(m[1])]);
  }
  if (!libs.some(([p]) => p.includes("ld-linux") || p.includes("ld-musl"))) {
    throw new FlowymlError(`ldd ${binary} names no dynamic loader: ${text.trim()}`);
  }
  return libs;
}

async function fileEntry(name: string, source: string, mode: number): Promise<TarEntry> {
  const st = await Deno.stat(source);
  return { name, type: "file", source, size: st.size, mode };
}

/** The layer's entries: folders first, then files, sorted, so the digest is reproducible. */
async function baseEntries(deno: string, tmp: string): Promise<TarEntry[]> {
  const files: TarEntry[] = [await fileEntry("usr/bin/deno", deno, 0o755)];
  for (const [path, real] of await sharedLibraries(deno)) {
    files.push(await fileEntry(path, real, 0o755));
  }
  await Deno.writeTextFile(join(tmp, "passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  await Deno.writeTextFile(join(tmp, "group"), "root:x:0:\n");
  files.push(await fileEntry("etc/passwd", join(tmp, "passwd"), 0o644));
  files.push(await fileEntry("etc/group", join(tmp, "group"), 0o644));
  const dirs = new Set<string>(["tmp", "root", "etc"]);
  for (const f of files) {
    const parts = f.name.split("/");
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join("/"));
  }
  const dirEntries: TarEntry[] = [...dirs].sort().map((d) => ({
    name: d,
    type: "dir",
    mode: d === "tmp" ? 0o1777 : 0o755,
  }));
  files.sort((a, b) => a.name.localeCompare(b.name));
  return [...dirEntries, ...files];
}

/** Build (and by default push) the base image: deno plus its shared libraries. */
export async function buildBaseImage(options: BaseImageOptions): Promise<BaseImage> {
  const reg = options.registry;
  const deno = await Deno.realPath(options.deno ?? Deno.execPath());
  const name = options.name ?? "flowyml-base";
  const version = await denoVersion(deno);
  const tag = options.tag ?? `deno-${version}`;
  const tmp = await Deno.makeTempDir({ prefix: "flowyml-base-" });
  try {
    const entries = await baseEntries(deno, tmp);
    const layout = reg.layout(name);
    await layout.init();
    const { layer, diffId } = await writeGzipLayer(layout, entries);
    const config = {
      architecture: "amd64",
      os: "linux",
      created: FIXED_TIME,
      config: {
        Env: ["PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/root", "DENO_NO_UPDATE_CHECK=1"],
        Entrypoint: ["/usr/bin/deno"],
        Labels: { "dev.flowyml.base": "deno+ldd", "dev.flowyml.deno-version": version },
      },
      rootfs: { type: "layers", diff_ids: [diffId] },
      history: [{ created: FIXED_TIME, created_by: `flowyml image base (deno ${version})` }],
    };
    const configBlob = await layout.writeBlob(new TextEncoder().encode(JSON.stringify(config)));
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MEDIA.ociManifest,
      config: { mediaType: MEDIA.ociConfig, ...configBlob },
      layers: [layer],
    };
    const m = await layout.writeBlob(new TextEncoder().encode(JSON.stringify(manifest)));
    await layout.setRef(tag, { mediaType: MEDIA.ociManifest, ...m });
    let uri = reg.getImageUri(name, tag);
    if (options.push !== false) uri = await reg.pushImage(name, tag);
    return { name, tag, digest: m.digest, uri, files: entries.map((e) => e.name) };
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

async function denoVersion(deno: string): Promise<string> {
  const out = await new Deno.Command(deno, { args: ["--version"], stdout: "piped" }).output();
  const m = /deno (\S+)/.exec(new TextDecoder().decode(out.stdout));
  return m?.[1] ?? "unknown";
}
