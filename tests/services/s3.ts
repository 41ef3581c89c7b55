/**
 * A real S3-compatible object store for the test suite: OpenStack Swift
 * (Debian `swift-*` packages) with its `s3api` middleware, single node, on
 * 127.0.0.1. Everything (config, rings, data) lives in a temp folder of the
 * suite's own; nothing under /etc is touched. Swift's scripts run with
 * `/usr/bin/python3` (the `python3` on PATH may not see Debian's swift).
 *
 * ```ts ignore
 * const s3 = await startS3();
 * // s3.endpoint = "http://127.0.0.1:PORT", s3.accessKey / s3.secretKey
 * await s3.stop();
 * ```
 * @module
 */
import * as Minio from "minio";
import { freePort, hasBinary, stopChild } from "../_helpers.ts";

const PYTHON = "/usr/bin/python3";
const BIN = "/usr/bin";

/** A running S3 server. */
export interface S3Server {
  /** `http://127.0.0.1:PORT` */
  endpoint: string;
  host: string;
  port: number;
  /** S3 access key (`test:tester`). */
  accessKey: string;
  /** S3 secret key. */
  secretKey: string;
  region: string;
  /** Folder holding config, rings, data and logs. */
  dir: string;
  /** PIDs of the server processes. */
  pids: number[];
  /** Stop every process and remove the folder. */
  stop(): Promise<void>;
}

/** A plain `minio` client of `s` (what other tools reading the bucket use), path-style. */
export function rawS3Client(s: S3Server): Minio.Client {
  return new Minio.Client({
    endPoint: s.host,
    port: s.port,
    useSSL: false,
    accessKey: s.accessKey,
    secretKey: s.secretKey,
    pathStyle: true,
    region: s.region,
  });
}

/** Every key under `prefix` in `bucket`, sorted, as {@linkcode rawS3Client} lists them. */
export async function s3Keys(s: S3Server, bucket: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const o of rawS3Client(s).listObjectsV2(bucket, prefix, true)) {
    if (o.name) out.push(o.name);
  }
  return out.sort();
}

/** True when the Debian Swift packages are installed. */
export function swiftAvailable(): boolean {
  return hasBinary(PYTHON) && hasBinary(`${BIN}/swift-proxy-server`) &&
    hasBinary(`${BIN}/swift-object-server`) && hasBinary(`${BIN}/swift-container-server`) &&
    hasBinary(`${BIN}/swift-account-server`);
}

/** How to get Swift, for skip messages. */
export const SWIFT_HOW = "bash .ci/install_services.sh installs swift-proxy swift-object " +
  "swift-container swift-account";

function serverConf(dir: string, port: number, kind: string): string {
  return `[DEFAULT]
devices = ${dir}/data
mount_check = false
bind_ip = 127.0.0.1
bind_port = ${port}
workers = 0
swift_dir = ${dir}/etc
log_level = WARNING
log_name = ${kind}

[pipeline:main]
pipeline = healthcheck ${kind}-server

[filter:healthcheck]
use = egg:swift#healthcheck

[app:${kind}-server]
use = egg:swift#${kind}

[${kind}-replicator]
[${kind}-updater]
[${kind}-auditor]
`;
}

function proxyConf(dir: string, port: number, user: string, key: string): string {
  const [account, name] = user.split(":");
  return `[DEFAULT]
bind_ip = 127.0.0.1
bind_port = ${port}
workers = 0
swift_dir = ${dir}/etc
log_level = WARNING
log_name = proxy

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:1
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:s3api]
use = egg:swift#s3api
location = us-east-1
dns_compliant_bucket_names = true
[filter:tempauth]
use = egg:swift#tempauth
user_${account}_${name} = ${key} .admin
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
`;
}

const RINGS_PY = `
import sys
from swift.common.ring import RingBuilder
etc = sys.argv[1]
for name, port in zip(("account", "container", "object"), sys.argv[2:5]):
    b = RingBuilder(6, 1, 1)
    b.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": int(port),
               "device": "d1", "weight": 100, "meta": ""})
    b.rebalance()
    b.get_ring().save("%s/%s.ring.gz" % (etc, name))
`;

async function waitHttp(url: string, timeoutMs: number, alive: () => boolean): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < until) {
    if (!alive()) throw new Error(`server for ${url} exited during startup`);
    try {
      const r = await fetch(url);
      await r.body?.cancel();
      if (r.ok) return;
      last = `HTTP ${r.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms (${last})`);
}

/** Options of {@linkcode startS3}. */
export interface StartS3Options {
  /** Swift user `account:name` (default `test:tester`). */
  user?: string;
  /** Its key (default `testing`). */
  key?: string;
  /** Startup timeout (default 30 s). */
  timeoutMs?: number;
}

/**
 * Start Swift (proxy with s3api + account, container and object servers) on
 * free 127.0.0.1 ports. Takes about 3–6 s.
 */
export async function startS3(options: StartS3Options = {}): Promise<S3Server> {
  const user = options.user ?? "test:tester";
  const key = options.key ?? "testing";
  const dir = await Deno.makeTempDir({ prefix: "flowyml-swift-" });
  await Deno.mkdir(`${dir}/etc`, { recursive: true });
  await Deno.mkdir(`${dir}/data/d1`, { recursive: true });
  const [proxy, account, container, object] = [freePort(), freePort(), freePort(), freePort()];
  await Deno.writeTextFile(
    `${dir}/etc/swift.conf`,
    `[swift-hash]\nswift_hash_path_suffix = flowyml\nswift_hash_path_prefix = flowyml\n\n` +
      `[storage-policy:0]\nname = gold\ndefault = yes\n`,
  );
  const rings = await new Deno.Command(PYTHON, {
    args: ["-c", RINGS_PY, `${dir}/etc`, String(account), String(container), String(object)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!rings.success) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw new Error(`building Swift rings failed: ${new TextDecoder().decode(rings.stderr)}`);
  }
  const confs: [string, string][] = [
    ["account", serverConf(dir, account, "account")],
    ["container", serverConf(dir, container, "container")],
    ["object", serverConf(dir, object, "object")],
    ["proxy", proxyConf(dir, proxy, user, key)],
  ];
  const children: Deno.ChildProcess[] = [];
  const exited = new Set<number>();
  for (const [kind, text] of confs) {
    const conf = `${dir}/etc/${kind}-server.conf`;
    await Deno.writeTextFile(conf, text);
    const log = await Deno.open(`${dir}/${kind}.log`, { write: true, create: true });
    const child = new Deno.Command(PYTHON, {
      args: [`${BIN}/swift-${kind}-server`, conf],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { PYTHONDONTWRITEBYTECODE: "1" },
    }).spawn();
    // Keep the server's output in a log file without holding our stdout open.
    child.stdout.pipeTo(log.writable, { preventClose: true }).catch(() => {});
    child.stderr.pipeTo(log.writable).catch(() => {});
    child.status.then(() => exited.add(child.pid));
    children.push(child);
  }
  const stop = async () => {
    await Promise.all(children.map((c) => stopChild(c)));
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    const alive = () => children.every((c) => !exited.has(c.pid));
    for (const p of [account, container, object, proxy]) {
      await waitHttp(`http://127.0.0.1:${p}/healthcheck`, options.timeoutMs ?? 30_000, alive);
    }
  } catch (err) {
    const logs = await Promise.all(
      confs.map(([k]) => Deno.readTextFile(`${dir}/${k}.log`).catch(() => "")),
    );
    await stop();
    throw new Error(
      `Swift did not start: ${(err as Error).message}\n${logs.join("\n").slice(-3000)}`,
    );
  }
  return {
    endpoint: `http://127.0.0.1:${proxy}`,
    host: "127.0.0.1",
    port: proxy,
    accessKey: user,
    secretKey: key,
    region: "us-east-1",
    dir,
    pids: children.map((c) => c.pid),
    stop,
  };
}
