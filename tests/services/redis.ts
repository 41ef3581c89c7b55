/**
 * A throwaway real `redis-server` (Debian `redis-server` 7) for the test
 * suite, on 127.0.0.1 and a free port, daemonized with a pidfile in a temp
 * folder of its own. No persistence (`--save "" --appendonly no`), so a
 * `restart()` loses every key: the worst case a queue must survive.
 *
 * ```ts ignore
 * const redis = await startRedis();
 * // redis.url = "redis://127.0.0.1:PORT"
 * await redis.restart();
 * await redis.stop();
 * ```
 * @module
 */
import { freePort, hasBinary } from "../_helpers.ts";

/** A running Redis server. */
export interface RedisServer {
  /** `redis://127.0.0.1:PORT` */
  url: string;
  port: number;
  /** Folder holding the pidfile and log. */
  dir: string;
  /** PID of the server (changes on restart). */
  pid(): number;
  /** Stop the server and start it again on the same port (data is lost). */
  restart(options?: { downMs?: number }): Promise<void>;
  /** Stop the server and remove its folder. */
  stop(): Promise<void>;
}

/** True when `redis-server` is installed. */
export function redisAvailable(): boolean {
  return hasBinary("redis-server");
}

/** How to get Redis, for skip messages. */
export const REDIS_HOW = "bash .ci/install_services.sh installs redis-server";

async function ping(port: number): Promise<boolean> {
  try {
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await c.write(new TextEncoder().encode("PING\r\n"));
      const buf = new Uint8Array(16);
      const n = await c.read(buf);
      return n !== null && new TextDecoder().decode(buf.subarray(0, n)).startsWith("+PONG");
    } finally {
      c.close();
    }
  } catch {
    return false;
  }
}

function alive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}

async function waitFor(
  cond: () => boolean | Promise<boolean>,
  ms: number,
  what: string,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Start a throwaway Redis on 127.0.0.1. */
export async function startRedis(): Promise<RedisServer> {
  const dir = await Deno.makeTempDir({ prefix: "flowyml-redis-" });
  const port = freePort();
  const pidfile = `${dir}/redis.pid`;
  let pid = 0;
  const start = async () => {
    await Deno.remove(pidfile).catch(() => {});
    const out = await new Deno.Command("redis-server", {
      args: [
        "--bind",
        "127.0.0.1",
        "--port",
        String(port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "yes",
        "--pidfile",
        pidfile,
        "--dir",
        dir,
        "--logfile",
        `${dir}/redis.log`,
        "--maxmemory-policy",
        "noeviction",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(`redis-server failed to start: ${new TextDecoder().decode(out.stderr)}`);
    }
    await waitFor(() => ping(port), 10_000, `redis-server on port ${port}`);
    pid = Number((await Deno.readTextFile(pidfile)).trim());
  };
  const halt = async () => {
    if (!pid || !alive(pid)) return;
    Deno.kill(pid, "SIGTERM");
    await waitFor(() => !alive(pid), 10_000, `redis-server ${pid} to exit`);
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    pid: () => pid,
    async restart(options = {}) {
      await halt();
      await new Promise((r) => setTimeout(r, options.downMs ?? 500));
      await start();
    },
    async stop() {
      await halt();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
