/**
 * A throwaway real PostgreSQL 15 cluster (Debian `postgresql-15`) for the
 * test suite: `initdb` plus `pg_ctl` in a temp folder owned by the `postgres`
 * user (PostgreSQL refuses to run as root, so both run through `runuser`),
 * SCRAM password auth, listening on 127.0.0.1 and a free port, `fsync=off`.
 *
 * ```ts ignore
 * const pg = await startPostgres();
 * // pg.url = "postgres://postgres:…@127.0.0.1:PORT/postgres"
 * await pg.stop();
 * ```
 * @module
 */
import { freePort, hasBinary } from "../_helpers.ts";

/** A running PostgreSQL cluster. */
export interface PostgresServer {
  /** `postgres://postgres:PASSWORD@127.0.0.1:PORT/postgres` */
  url: string;
  port: number;
  /** Folder holding the data directory and log. */
  dir: string;
  /** Create a fresh database and return its URL. */
  createDatabase(name: string): Promise<string>;
  /** Stop the cluster and remove its folder. */
  stop(): Promise<void>;
}

function binDir(): string | undefined {
  for (const d of ["/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin"]) {
    if (hasBinary(`${d}/initdb`) && hasBinary(`${d}/pg_ctl`)) return d;
  }
  return undefined;
}

/** True when PostgreSQL server binaries and `runuser` are installed. */
export function postgresAvailable(): boolean {
  return binDir() !== undefined && hasBinary("runuser");
}

/** How to get PostgreSQL, for skip messages. */
export const POSTGRES_HOW = "bash .ci/install_services.sh installs postgresql-15";

async function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed:\n${text}`);
  return text;
}

async function pgUser(): Promise<{ uid: number; gid: number }> {
  const [uid, gid] = await Promise.all([
    run("id", ["-u", "postgres"]),
    run("id", ["-g", "postgres"]),
  ]);
  return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
}

/** Start a throwaway PostgreSQL cluster on 127.0.0.1. */
export async function startPostgres(): Promise<PostgresServer> {
  const bin = binDir();
  if (!bin) throw new Error(`PostgreSQL is not installed (${POSTGRES_HOW})`);
  const dir = await Deno.makeTempDir({ prefix: "flowyml-pg-" });
  const { uid, gid } = await pgUser();
  await Deno.chown(dir, uid, gid);
  const password = crypto.randomUUID().replaceAll("-", "");
  const pwfile = `${dir}/pw`;
  await Deno.writeTextFile(pwfile, password + "\n");
  await Deno.chown(pwfile, uid, gid);
  const data = `${dir}/data`;
  const as = (cmd: string, args: string[]) =>
    run("runuser", ["-u", "postgres", "--", cmd, ...args], { PGPASSWORD: password });
  await as(`${bin}/initdb`, [
    "-D",
    data,
    "-U",
    "postgres",
    "--auth=scram-sha-256",
    `--pwfile=${pwfile}`,
    "-E",
    "UTF8",
    "--no-sync",
  ]);
  const port = freePort();
  const opts = [
    `-p ${port}`,
    "-c listen_addresses=127.0.0.1",
    `-c unix_socket_directories=${dir}`,
    "-c fsync=off",
    "-c full_page_writes=off",
    "-c synchronous_commit=off",
    "-c max_connections=200",
  ].join(" ");
  await as(`${bin}/pg_ctl`, [
    "-D",
    data,
    "-o",
    opts,
    "-l",
    `${dir}/pg.log`,
    "-w",
    "-t",
    "60",
    "start",
  ]);
  const url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
  return {
    url,
    port,
    dir,
    async createDatabase(name) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`);
      await as(`${bin}/psql`, [
        "-h",
        dir,
        "-p",
        String(port),
        "-U",
        "postgres",
        "-c",
        `CREATE DATABASE ${name}`,
      ]);
      return url.replace(/\/postgres$/, `/${name}`);
    },
    async stop() {
      await as(`${bin}/pg_ctl`, ["-D", data, "-m", "immediate", "-w", "stop"]).catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
