/**
 * A real OCI registry for the test suite: Debian's `docker-registry`
 * (distribution 2.8) on 127.0.0.1, optionally with htpasswd basic auth
 * (`htpasswd` from apache2-utils). Storage and config live in a temp folder.
 *
 * ```ts ignore
 * const reg = await startRegistry({ auth: true });
 * // reg.host = "127.0.0.1:PORT", reg.username / reg.password
 * await reg.stop();
 * ```
 * @module
 */
import { freePort, hasBinary } from "../_helpers.ts";

/** A running registry. */
export interface RegistryServer {
  /** `127.0.0.1:PORT` (what image references use). */
  host: string;
  port: number;
  /** `http://127.0.0.1:PORT` */
  endpoint: string;
  /** Set when started with `auth: true`. */
  username?: string;
  password?: string;
  dir: string;
  pid: number;
  stop(): Promise<void>;
}

/** True when docker-registry (and htpasswd) are installed. */
export function registryAvailable(): boolean {
  return hasBinary("docker-registry") && hasBinary("htpasswd");
}

/** How to get the registry, for skip messages. */
export const REGISTRY_HOW = "bash .ci/install_services.sh installs docker-registry apache2-utils";

/** Options of {@linkcode startRegistry}. */
export interface StartRegistryOptions {
  /** Require htpasswd basic auth. */
  auth?: boolean;
  username?: string;
  password?: string;
}

/** Start docker-registry on a free 127.0.0.1 port (about 0.2 s). */
export async function startRegistry(options: StartRegistryOptions = {}): Promise<RegistryServer> {
  const dir = await Deno.makeTempDir({ prefix: "flowyml-registry-" });
  const port = freePort();
  const username = options.auth ? options.username ?? "flowyml" : undefined;
  const password = options.auth ? options.password ?? `pw-${crypto.randomUUID()}` : undefined;
  let auth = "";
  if (options.auth) {
    const out = await new Deno.Command("htpasswd", {
      args: ["-Bbn", username!, password!],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(`htpasswd failed: ${new TextDecoder().decode(out.stderr)}`);
    await Deno.writeFile(`${dir}/htpasswd`, out.stdout);
    auth = `auth:\n  htpasswd:\n    realm: flowyml-test\n    path: ${dir}/htpasswd\n`;
  }
  await Deno.writeTextFile(
    `${dir}/config.yml`,
    `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${dir}/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${port}
${auth}`,
  );
  const log = await Deno.open(`${dir}/registry.log`, { write: true, create: true });
  const child = new Deno.Command("docker-registry", {
    args: ["serve", `${dir}/config.yml`],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  child.stdout.pipeTo(log.writable, { preventClose: true }).catch(() => {});
  child.stderr.pipeTo(log.writable).catch(() => {});
  let exited = false;
  child.status.then(() => (exited = true));
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    await child.status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  const until = Date.now() + 15_000;
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/v2/`);
      await r.body?.cancel();
      if (r.status === 200 || r.status === 401) break;
    } catch { /* not yet */ }
    if (exited || Date.now() > until) {
      const text = await Deno.readTextFile(`${dir}/registry.log`).catch(() => "");
      await stop();
      throw new Error(`docker-registry did not start: ${text.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host: `127.0.0.1:${port}`,
    port,
    endpoint: `http://127.0.0.1:${port}`,
    username,
    password,
    dir,
    pid: child.pid,
    stop,
  };
}
