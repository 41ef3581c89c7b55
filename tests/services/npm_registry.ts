/**
 * A real npm registry for the test suite: verdaccio 6 on 127.0.0.1 and a free
 * port, with its storage in a temp folder of its own and **no uplinks**, so
 * nothing it serves comes from (or goes to) the internet. Packages named
 * `flowyml-*` can be published and unpublished anonymously. verdaccio is
 * installed outside the repo by `.ci/install_services.sh` (default
 * /opt/flowyml-cache/verdaccio, override with FLOWYML_VERDACCIO_DIR).
 *
 * ```ts ignore
 * const npm = await startNpmRegistry();
 * // npm publish --registry npm.url --userconfig npm.npmrc
 * // NPM_CONFIG_REGISTRY=npm.url deno run … npm:flowyml-hello@1.0.0
 * await npm.stop();
 * ```
 * @module
 */
import { freePort, hasBinary, stopChild } from "../_helpers.ts";

/** Where verdaccio is installed. */
export function verdaccioDir(): string {
  return Deno.env.get("FLOWYML_VERDACCIO_DIR") ?? "/opt/flowyml-cache/verdaccio";
}

function verdaccioBin(): string {
  return `${verdaccioDir()}/node_modules/verdaccio/bin/verdaccio`;
}

/** True when node, npm and the cached verdaccio are present. */
export function npmRegistryAvailable(): boolean {
  if (!hasBinary("node") || !hasBinary("npm")) return false;
  try {
    return Deno.statSync(verdaccioBin()).isFile;
  } catch {
    return false;
  }
}

/** How to get it, for skip messages. */
export const NPM_REGISTRY_HOW = "bash .ci/install_services.sh installs verdaccio into " +
  "/opt/flowyml-cache/verdaccio (needs node and npm)";

/** A running npm registry. */
export interface NpmRegistry {
  /** `http://127.0.0.1:PORT/` (with the trailing slash npm and Deno expect). */
  url: string;
  port: number;
  pid: number;
  /** Folder holding the config, storage, log and `.npmrc`. */
  dir: string;
  /** An npm userconfig holding a (dummy) token for this registry: npm refuses to publish without one. */
  npmrc: string;
  /** `npm publish` the package folder to this registry; throws with npm's output on failure. */
  publish(packageDir: string, options?: { tag?: string }): Promise<void>;
  /** Stop the server and remove its folder. */
  stop(): Promise<void>;
}

function config(dir: string, port: number): string {
  return `# flowyml test registry: local storage, no uplinks (nothing reaches the internet)
storage: ${dir}/storage
auth:
  htpasswd:
    file: ${dir}/htpasswd
    max_users: -1
uplinks: {}
packages:
  'flowyml-*':
    access: $all
    publish: $anonymous $all
    unpublish: $anonymous $all
  '**':
    access: $all
    publish: $authenticated
listen: 127.0.0.1:${port}
server:
  keepAliveTimeout: 5
web:
  enable: false
log: { type: file, path: ${dir}/verdaccio.log, level: warn }
`;
}

/** Start verdaccio on a free port (about 1–2 s). */
export async function startNpmRegistry(): Promise<NpmRegistry> {
  const dir = await Deno.makeTempDir({ prefix: "flowyml-npm-registry-" });
  const port = freePort();
  const url = `http://127.0.0.1:${port}/`;
  await Deno.writeTextFile(`${dir}/config.yaml`, config(dir, port));
  // npm publish wants credentials before it sends anything; verdaccio treats
  // this unknown token as anonymous, which the config allows for flowyml-*.
  const npmrc = `${dir}/.npmrc`;
  await Deno.writeTextFile(npmrc, `//127.0.0.1:${port}/:_authToken=flowyml-test-anonymous\n`);
  const child = new Deno.Command("node", {
    args: [verdaccioBin(), "--config", `${dir}/config.yaml`, "--listen", `127.0.0.1:${port}`],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    env: { HOME: dir, VERDACCIO_STORAGE_PATH: `${dir}/storage` },
  }).spawn();
  let errText = "";
  const errDone = (async () => {
    for await (const c of child.stderr.pipeThrough(new TextDecoderStream())) {
      errText = (errText + c).slice(-4000);
    }
  })();
  let exited = false;
  child.status.then(() => exited = true);
  const stop = async () => {
    await stopChild(child);
    await errDone.catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  const end = Date.now() + 30_000;
  for (;;) {
    try {
      const res = await fetch(`${url}-/ping`);
      await res.body?.cancel();
      if (res.ok) break;
    } catch { /* not listening yet */ }
    if (exited || Date.now() > end) {
      const log = await Deno.readTextFile(`${dir}/verdaccio.log`).catch(() => "");
      await stop();
      throw new Error(`verdaccio did not start on 127.0.0.1:${port}: ${errText}${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    port,
    pid: child.pid,
    dir,
    npmrc,
    async publish(packageDir: string, options: { tag?: string } = {}) {
      const out = await new Deno.Command("npm", {
        args: [
          "publish",
          "--registry",
          url,
          "--userconfig",
          npmrc,
          "--loglevel=error",
          ...(options.tag ? ["--tag", options.tag] : []),
        ],
        cwd: packageDir,
        env: { npm_config_cache: `${dir}/npm-cache`, npm_config_update_notifier: "false" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (!out.success) {
        const dec = new TextDecoder();
        throw new Error(
          `npm publish of ${packageDir} to ${url} failed:\n${dec.decode(out.stdout)}${
            dec.decode(out.stderr)
          }`,
        );
      }
    },
    stop,
  };
}
