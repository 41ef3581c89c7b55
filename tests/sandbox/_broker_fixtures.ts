/**
 * Helpers of the broker hostile tests: a real HTTP server on 127.0.0.1 that
 * counts hits and records headers, a broker driven directly with raw
 * protocol requests, and WAT plugins that flood the broker.
 * @module
 */
import { Broker, type BrokerContext } from "../../kernel/sandbox/broker.ts";
import { grantsSchema } from "../../kernel/sandbox/mod.ts";
import type { StackLike } from "../../kernel/contracts.ts";
import { IMPORTS, watString } from "./_fixtures.ts";

/** A server on 127.0.0.1 that counts its hits and keeps each request's headers. */
export interface TestServer {
  port: number;
  host: string;
  url: string;
  hits: number;
  seen: { path: string; headers: Headers }[];
  close(): Promise<void>;
}

/** Start a server; `handler` answers (after the hit is counted). */
export function startServer(handler: (r: Request) => Response | Promise<Response>): TestServer {
  const s: TestServer = {
    port: 0,
    host: "",
    url: "",
    hits: 0,
    seen: [],
    close: async () => {
      await server.shutdown();
    },
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (r) => {
    s.hits++;
    s.seen.push({ path: new URL(r.url).pathname + new URL(r.url).search, headers: r.headers });
    return handler(r);
  });
  s.port = server.addr.port;
  s.host = `127.0.0.1:${s.port}`;
  s.url = `http://${s.host}`;
  return s;
}

/** A broker for plugin "evil" with `grants`, for run `runId`. */
export function makeBroker(
  stack: StackLike | undefined,
  grants: Record<string, unknown>,
  extra: Partial<BrokerContext> = {},
): Broker {
  return new Broker({
    plugin: "evil",
    grants: grantsSchema.parse(grants),
    runId: extra.runId ?? "run-hostile",
    stack,
    ...extra,
  });
}

/** Send one request (the `v` is added) and return the response JSON and payload. */
export async function ask(
  b: Broker,
  req: Record<string, unknown>,
  payload = new Uint8Array(0),
): Promise<{ json: Record<string, unknown>; payload?: Uint8Array }> {
  const raw = new TextEncoder().encode(JSON.stringify({ v: 1, ...req }));
  const r = await b.handle(raw, payload);
  return { json: r.json as Record<string, unknown>, payload: r.payload };
}

const OUT = '{"outputs":{"out":{"json":1}}}';

/**
 * A plugin that sends each of `requests` in turn, `times` times over, ignoring the answers,
 * then outputs `out: 1`.
 */
export function floodWat(requests: string[], times: number): string {
  let data = "";
  let off = 0;
  const calls: string[] = [];
  for (const r of requests) {
    const len = new TextEncoder().encode(r).length;
    data += ` (data (i32.const ${off}) "${watString(r)}")`;
    calls.push(`(drop (call $call (i32.const ${off}) (i32.const ${len})))
          (call $response (i32.const 49152))`);
    off += len + 8;
  }
  return `(module ${IMPORTS}
 (memory (export "memory") 4)
 ${data}
 (data (i32.const 40960) "${watString(OUT)}")
 (func (export "run") (result i32) (local $i i32)
  (loop $l
   ${calls.join("\n   ")}
   (local.set $i (i32.add (local.get $i) (i32.const 1)))
   (br_if $l (i32.lt_u (local.get $i) (i32.const ${times}))))
  (call $output (i32.const 40960) (i32.const ${OUT.length}))
  (i32.const 0)))`;
}

/** A fake PEM private key (multi-line: not a valid HTTP header value). */
export const PEM = [
  "-----BEGIN PRIVATE KEY-----",
  "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj",
  "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu",
  "NMoSfm76oqFvAp8Gy0iz5sxjZmSnXyCdPEovGhLa0VzMaQ8s+CLOyS56YyCFGeJZ",
  "-----END PRIVATE KEY-----",
].join("\n");
