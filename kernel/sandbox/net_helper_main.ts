/**
 * Entry module of the net helper process (see net_helper.ts): performs the
 * brokered HTTP requests of plugins, so that the kernel and the pipeline
 * code never need the network access a plugin was granted. It holds only
 * `--allow-net` (exact hosts, or every host for a glob grant), imports
 * nothing but `net_match.ts`, and talks over stdin/stdout frames:
 * `u32 json length, u32 body length, json, body` (big-endian).
 *
 * Each request is checked hop by hop: redirects are followed manually, each
 * hop must match the grants, secret headers are dropped on any change of
 * origin (and where a secret is bound to other hosts), every hop is
 * reported for the audit trail, a deadline aborts the whole exchange, and
 * the body is streamed back in chunks, cut at `max_bytes` as it arrives.
 * @module
 */
import { hostGranted, originOf } from "./net_match.ts";

/** A request from the kernel. */
interface NetRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  /** Header names whose value is a secret → the hosts (globs) it may go to, or null for any. */
  secret_headers: Record<string, string[] | null>;
  net: string[];
  max_bytes: number;
  timeout_ms: number;
  max_hops: number;
}

const CREDENTIAL_HEADERS = ["authorization", "cookie", "proxy-authorization"];
const CHUNK = 1 << 20;
const enc = new TextEncoder();
const dec = new TextDecoder();
const out = Deno.stdout;

function send(msg: Record<string, unknown>, body?: Uint8Array): void {
  const json = enc.encode(JSON.stringify(msg));
  const frame = new Uint8Array(8 + json.length);
  const dv = new DataView(frame.buffer);
  dv.setUint32(0, json.length);
  dv.setUint32(4, body?.length ?? 0);
  frame.set(json, 8);
  writeAll(frame);
  if (body?.length) writeAll(body);
}

function writeAll(b: Uint8Array): void {
  let off = 0;
  while (off < b.length) off += out.writeSync(b.subarray(off));
}

/** Reads stdin frames. */
async function* frames(): AsyncGenerator<{ json: unknown; body: Uint8Array }> {
  let buf = new Uint8Array(0);
  const need = async (n: number, it: AsyncIterator<Uint8Array>): Promise<boolean> => {
    while (buf.length < n) {
      const r = await it.next();
      if (r.done) return false;
      const next = new Uint8Array(buf.length + r.value.length);
      next.set(buf);
      next.set(r.value, buf.length);
      buf = next;
    }
    return true;
  };
  const it = Deno.stdin.readable[Symbol.asyncIterator]();
  while (await need(8, it)) {
    const dv = new DataView(buf.buffer, buf.byteOffset, 8);
    const jl = dv.getUint32(0), bl = dv.getUint32(4);
    if (!(await need(8 + jl + bl, it))) return;
    const json = JSON.parse(dec.decode(buf.subarray(8, 8 + jl)));
    const body = buf.slice(8 + jl, 8 + jl + bl);
    buf = buf.slice(8 + jl + bl);
    yield { json, body };
  }
}

/** The headers to send to `url`: secrets only to their own origin and their bound hosts. */
function hopHeaders(q: NetRequest, first: URL, url: URL): { headers: Headers; dropped: string[] } {
  const headers = new Headers();
  const dropped: string[] = [];
  const sameOrigin = originOf(first) === originOf(url);
  for (const [k, v] of Object.entries(q.headers)) {
    const lk = k.toLowerCase();
    const bound = Object.hasOwn(q.secret_headers, k) ? q.secret_headers[k] : undefined;
    const secret = bound !== undefined;
    if (!sameOrigin && (secret || CREDENTIAL_HEADERS.includes(lk))) {
      dropped.push(k);
      continue;
    }
    if (bound && !hostGranted(bound, url)) {
      dropped.push(k);
      continue;
    }
    headers.set(k, v);
  }
  return { headers, dropped };
}

/** Streams `res`'s body back in chunks of up to 1 MiB; false if it passed `max` (the rest is not read). */
async function streamBody(res: Response, max: number): Promise<number | false> {
  let total = 0;
  if (!res.body) return 0;
  const reader = res.body.getReader();
  const pending = new Uint8Array(CHUNK);
  let fill = 0;
  for (;;) {
    const r = await reader.read();
    if (r.done) {
      if (fill) send({ type: "chunk" }, pending.subarray(0, fill));
      return total;
    }
    total += r.value.length;
    if (total > max) {
      await reader.cancel().catch(() => {});
      return false;
    }
    let v = r.value;
    while (v.length) {
      const k = Math.min(v.length, CHUNK - fill);
      pending.set(v.subarray(0, k), fill);
      fill += k;
      v = v.subarray(k);
      if (fill === CHUNK) {
        send({ type: "chunk" }, pending);
        fill = 0;
      }
    }
  }
}

async function serve(q: NetRequest, body: Uint8Array): Promise<void> {
  const signal = AbortSignal.timeout(q.timeout_ms);
  const first = new URL(q.url);
  let url = first;
  let method = q.method.toUpperCase();
  let payload: Uint8Array<ArrayBuffer> | undefined = body.length ? body.slice() : undefined;
  for (let hop = 0;; hop++) {
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      send({ type: "hop", url: url.href, allowed: false, detail: "only http(s) URLs" });
      return send({
        type: "error",
        code: "denied",
        message: `redirect to ${url.protocol} refused`,
      });
    }
    if (!hostGranted(q.net, url)) {
      const why = `host not granted (grants.net: ${JSON.stringify(q.net)})`;
      send({ type: "hop", url: url.href, allowed: false, detail: why });
      return send({
        type: "error",
        code: "denied",
        message: `redirect to ${url.host} refused: ${why}`,
      });
    }
    const { headers, dropped } = hopHeaders(q, first, url);
    const res = await fetch(url, { method, headers, body: payload, redirect: "manual", signal });
    const location = res.headers.get("location");
    const redirect = res.status >= 300 && res.status < 400 && location !== null;
    send({
      type: "hop",
      url: url.href,
      allowed: true,
      status: res.status,
      detail: `${method} -> ${res.status}${
        dropped.length ? ` (not sent here: ${dropped.join(", ")})` : ""
      }`,
    });
    if (!redirect) {
      send({ type: "head", status: res.status, headers: Object.fromEntries(res.headers) });
      const n = await streamBody(res, q.max_bytes);
      if (n === false) {
        return send({
          type: "error",
          code: "oversized",
          message: `response body passed max_output (${q.max_bytes} bytes); the rest was not read`,
        });
      }
      return send({ type: "end", size: n });
    }
    await res.body?.cancel().catch(() => {});
    if (hop + 1 > q.max_hops) {
      return send({
        type: "error",
        code: "denied",
        message: `more than ${q.max_hops} redirects; the last pointed to ${location}`,
      });
    }
    url = new URL(location!, url);
    if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === "POST")) {
      method = method === "HEAD" ? "HEAD" : "GET";
      payload = undefined;
    }
  }
}

for await (const { json, body } of frames()) {
  const q = json as NetRequest;
  try {
    await serve(q, body);
  } catch (err) {
    const e = err as Error;
    const timedOut = e?.name === "TimeoutError" || e?.name === "AbortError";
    send({
      type: "error",
      code: "failed",
      message: timedOut
        ? `no complete answer within ${q.timeout_ms} ms (the request was aborted)`
        : String(e?.message ?? e),
    });
  }
}
