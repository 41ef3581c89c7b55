// flowyml plugin SDK for AssemblyScript, built on @extism/as-pdk.
//
// Typed helpers over the flowyml protocol v1 (docs/protocol.md): artifacts,
// logging, metrics, config, env, secrets, HTTP and orchestration (submit and
// await steps from an orchestrator plugin), all brokered by the kernel
// against the plugin's grants. Bulk bytes use handles copied straight into
// and out of guest memory (no byte-by-byte PDK copies).
import { Host } from "@extism/as-pdk";

export { Host };

// ---- host functions (extism:host/user) ----
@external("extism:host/user", "flowyml_call")
declare function _call(ptr: usize, len: i32): i32;
@external("extism:host/user", "flowyml_response")
declare function _response(ptr: usize): void;
@external("extism:host/user", "flowyml_input_length")
declare function _inputLength(): i32;
@external("extism:host/user", "flowyml_input")
declare function _input(ptr: usize): void;
@external("extism:host/user", "flowyml_output")
declare function _output(ptr: usize, len: i32): void;
@external("extism:host/user", "flowyml_size")
declare function _size(h: i32): i64;
@external("extism:host/user", "flowyml_read")
declare function _read(h: i32, offset: i64, ptr: usize, len: i32): i32;
@external("extism:host/user", "flowyml_create")
declare function _create(hint: i64): i32;
@external("extism:host/user", "flowyml_write")
declare function _write(h: i32, ptr: usize, len: i32): i32;
@external("extism:host/user", "flowyml_write_at")
declare function _writeAt(h: i32, offset: i64, ptr: usize, len: i32): i32;
@external("extism:host/user", "flowyml_take")
declare function _take(h: i32): i32;

// ---- JSON helpers (the kernel writes compact JSON) ----

/** Quote a string as JSON. */
export function jsonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c == 34) out += '\\"';
    else if (c == 92) out += "\\\\";
    else if (c < 32) out += "\\u" + c.toString(16).padStart(4, "0");
    else out += String.fromCharCode(c);
  }
  return out + '"';
}

/** The raw JSON text of the value after `"key":` (first match), or null. */
export function jsonRaw(json: string, key: string): string | null {
  const k = '"' + key + '":';
  const at = json.indexOf(k);
  if (at < 0) return null;
  let i = at + k.length;
  const start = i;
  let depth = 0;
  let inStr = false;
  for (; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (inStr) {
      if (c == 92) i++;
      else if (c == 34) inStr = false;
      continue;
    }
    if (c == 34) inStr = true;
    else if (c == 123 || c == 91) depth++;
    else if (c == 125 || c == 93) {
      if (depth == 0) break;
      depth--;
    } else if (c == 44 && depth == 0) break;
  }
  return json.substring(start, i);
}

/** A number field, or `fallback`. */
export function jsonNumber(json: string, key: string, fallback: f64 = 0): f64 {
  const r = jsonRaw(json, key);
  return r === null ? fallback : parseFloat(r!);
}

/** A string field (simple strings without escapes), or null. */
export function jsonText(json: string, key: string): string | null {
  const r = jsonRaw(json, key);
  if (r === null || r!.length < 2 || r!.charCodeAt(0) != 34) return null;
  return r!.substring(1, r!.length - 1);
}

/** The elements of a raw JSON array (top level only), each as raw JSON text. */
export function jsonArray(raw: string | null): string[] {
  const out: string[] = [];
  if (raw === null) return out;
  const a = raw!;
  let i = a.indexOf("[") + 1;
  if (i <= 0) return out;
  let start = i;
  let depth = 0;
  let inStr = false;
  for (; i < a.length; i++) {
    const c = a.charCodeAt(i);
    if (inStr) {
      if (c == 92) i++;
      else if (c == 34) inStr = false;
      continue;
    }
    if (c == 34) inStr = true;
    else if (c == 123 || c == 91) depth++;
    else if ((c == 125 || c == 93) && depth > 0) depth--;
    else if ((c == 44 && depth == 0) || (c == 93 && depth == 0)) {
      const item = a.substring(start, i).trim();
      if (item.length) out.push(item);
      start = i + 1;
      if (c == 93) break;
    }
  }
  return out;
}

/** A JSON string value's text (simple strings without escapes), e.g. `"a"` -> `a`. */
export function jsonUnquote(raw: string): string {
  return raw.length >= 2 && raw.charCodeAt(0) == 34 ? raw.substring(1, raw.length - 1) : raw;
}

// ---- protocol ----

/** Result of a brokered request. */
export class Response {
  constructor(public ok: bool, public json: string) {}
  /** The error message of a failed request. */
  get error(): string {
    const m = jsonText(this.json, "message");
    return m === null ? this.json : m!;
  }
}

/** Send one protocol request (a JSON object body without `v`) and return the response. */
export function request(op: string, fields: string = ""): Response {
  const body = '{"v":1,"op":' + jsonString(op) + (fields.length ? "," + fields : "") + "}";
  const buf = String.UTF8.encode(body);
  const n = _call(changetype<usize>(buf), buf.byteLength);
  const out = new ArrayBuffer(n);
  _response(changetype<usize>(out));
  const text = String.UTF8.decode(out);
  return new Response(text.startsWith('{"ok":true'), text);
}

/** Send a request and abort the call with the kernel's message when it fails. */
export function requestOk(op: string, fields: string = ""): Response {
  const r = request(op, fields);
  if (!r.ok) abort(op + " failed: " + r.error);
  return r;
}

// ---- bulk data: handles ----

/** Bytes held by the host; read and written with direct copies. */
export class Handle {
  constructor(public id: i32) {}
  /** A new writable handle (hint: expected size in bytes). */
  static create(hint: i64 = 0): Handle {
    return new Handle(_create(hint));
  }
  size(): i64 {
    return _size(this.id);
  }
  /** Copy up to `len` bytes at `offset` into guest memory at `ptr`; returns bytes read. */
  readInto(offset: i64, ptr: usize, len: i32): i32 {
    return _read(this.id, offset, ptr, len);
  }
  /** Read into `buf` from `offset`; returns bytes read. */
  read(offset: i64, buf: Uint8Array): i32 {
    return _read(this.id, offset, buf.dataStart, buf.byteLength);
  }
  /** All bytes (allocates the whole size in guest memory). */
  readAll(): Uint8Array {
    const out = new Uint8Array(<i32> this.size());
    this.read(0, out);
    return out;
  }
  /** Append `len` bytes from guest memory at `ptr`. */
  writeFrom(ptr: usize, len: i32): void {
    _write(this.id, ptr, len);
  }
  /** Append bytes. */
  write(buf: Uint8Array): void {
    _write(this.id, buf.dataStart, buf.byteLength);
  }
  /** Overwrite (or extend) at `offset` <= size() with `len` bytes from guest memory at `ptr`. */
  writeAt(offset: i64, ptr: usize, len: i32): void {
    _writeAt(this.id, offset, ptr, len);
  }
  /**
   * Make this read handle (a step input or a response) writable in place and
   * return it: transform its bytes with readInto/writeAt and name it as an
   * output, without allocating a second buffer. Its size counts as output.
   */
  take(): Handle {
    return new Handle(_take(this.id));
  }
}

// ---- typed helpers ----

export namespace artifacts {
  /** Read an artifact (needs grants.artifacts.read); returns a handle to its bytes. */
  export function get(path: string): Handle {
    const r = requestOk("artifacts.get", '"path":' + jsonString(path));
    return new Handle(<i32> jsonNumber(r.json, "handle"));
  }
  /** Write bytes to an artifact path (needs grants.artifacts.write). */
  export function put(path: string, data: Uint8Array): void {
    const h = Handle.create(data.byteLength);
    h.write(data);
    putHandle(path, h);
  }
  /** Write a handle's bytes to an artifact path. */
  export function putHandle(path: string, h: Handle): void {
    requestOk("artifacts.put", '"path":' + jsonString(path) + ',"handle":' + h.id.toString());
  }
  export function exists(path: string): bool {
    const r = requestOk("artifacts.exists", '"path":' + jsonString(path));
    return jsonRaw(r.json, "exists") == "true";
  }
  /** The raw JSON array of `{path,size}` readable under `prefix`. */
  export function list(prefix: string): string {
    const r = requestOk("artifacts.list", '"prefix":' + jsonString(prefix));
    const items = jsonRaw(r.json, "items");
    return items === null ? "[]" : items!;
  }
}

/** Log a line into the step's log (always allowed, audited). */
export function log(message: string): void {
  request("log", '"message":' + jsonString(message));
}

export namespace metrics {
  /** Log one metric (needs grants.metadata). */
  export function log(name: string, value: f64): Response {
    return request("metadata.log", '"metrics":{' + jsonString(name) + ":" + value.toString() + "}");
  }
}

export namespace config {
  /** The raw JSON of a granted config value, or null when not granted. */
  export function get(key: string): string | null {
    const r = request("config.get", '"key":' + jsonString(key));
    return r.ok ? jsonRaw(r.json, "value") : null;
  }
}

export namespace env {
  /** A granted environment variable, or null (not granted or unset). */
  export function get(name: string): string | null {
    const r = request("env.get", '"name":' + jsonString(name));
    return r.ok ? jsonText(r.json, "value") : null;
  }
}

export namespace secrets {
  /** An opaque handle for a granted secret, usable as an HTTP header value. */
  export function handle(name: string): string | null {
    const r = request("secrets.get", '"name":' + jsonString(name));
    return r.ok ? jsonText(r.json, "secret") : null;
  }
}

export namespace http {
  /** Fetch a URL through the kernel (needs grants.net). `headers` is a JSON object. */
  export function fetch(url: string, method: string = "GET", headers: string = "{}"): Response {
    return request(
      "http.fetch",
      '"url":' + jsonString(url) + ',"method":' + jsonString(method) + ',"headers":' + headers,
    );
  }
}

// ---- orchestration (orchestrator plugins: `orchestrator: { type: wasm }`) ----

/** A step's status as the kernel reports it (`orchestration.await` / `orchestration.status`). */
export class StepState {
  constructor(
    public step: string,
    public status: string,
    public done: bool,
    public json: string,
  ) {}
  /** True when the step finished with its outputs available (completed or cached). */
  get succeeded(): bool {
    return this.status == "completed" || this.status == "cached";
  }
}

export namespace orchestration {
  /**
   * Submit a ready step (all upstream completed) of the run being scheduled.
   * Needs grants.orchestration. The response has `ticket` and `status`, or a
   * structured error: `conflict` (not ready, already submitted), `not_found`, `denied`.
   */
  export function trySubmit(step: string): Response {
    return request("orchestration.submit", '"step":' + jsonString(step));
  }
  /** Submit a ready step and return its ticket; aborts with the kernel's message on refusal. */
  export function submit(step: string): string {
    const r = requestOk("orchestration.submit", '"step":' + jsonString(step));
    return jsonText(r.json, "ticket")!;
  }
  /**
   * Block until the ticket's step finishes, or `timeoutMs` passes (-1: until
   * the step finishes or this call's own timeout). `done` is false on a timeout.
   */
  export function wait(ticket: string, timeoutMs: i32 = -1): StepState {
    const t = timeoutMs >= 0 ? ',"timeout_ms":' + timeoutMs.toString() : "";
    const r = requestOk("orchestration.await", '"ticket":' + jsonString(ticket) + t);
    return state(r.json);
  }
  /** The current status of one step (`pending`, `ready`, `queued`, `running`, `completed`, …). */
  export function status(step: string): StepState {
    const r = requestOk("orchestration.status", '"step":' + jsonString(step));
    const first = jsonArray(jsonRaw(r.json, "steps"));
    return state(first.length ? first[0] : r.json);
  }
  function state(json: string): StepState {
    const step = jsonText(json, "step");
    const status = jsonText(json, "status");
    return new StepState(
      step === null ? "" : step!,
      status === null ? "" : status!,
      jsonRaw(json, "done") == "true",
      json,
    );
  }
}

// ---- steps ----

export namespace step {
  /** The step call's input JSON (inputs, config, runId …). */
  export function input(): string {
    const buf = new ArrayBuffer(_inputLength());
    _input(changetype<usize>(buf));
    return String.UTF8.decode(buf);
  }
  /** The handle of input `name`. */
  export function inputHandle(json: string, name: string): Handle {
    const spec = jsonRaw(json, name);
    if (spec === null) abort("no input named " + name);
    return new Handle(<i32> jsonNumber(spec!, "handle"));
  }
  /** The raw JSON of the step's `config` value. */
  export function config(json: string): string {
    const c = jsonRaw(json, "config");
    return c === null ? "{}" : c!;
  }
  /** Set the call's output (a JSON object, e.g. from `outputs()`). */
  export function output(json: string): void {
    const buf = String.UTF8.encode(json);
    _output(changetype<usize>(buf), buf.byteLength);
  }
  /** Describe one handle output with its serializer (`bytes`, `typed_array`, `string`, `json`). */
  export function handleOutput(
    name: string,
    h: Handle,
    serializer: string,
    metaJson: string = "{}",
  ): string {
    return jsonString(name) + ':{"handle":' + h.id.toString() + ',"serializer":' +
      jsonString(serializer) + ',"meta":' + metaJson + "}";
  }
  /** Wrap output entries: `outputs([handleOutput(...)])`. */
  export function outputs(entries: string[]): string {
    return '{"outputs":{' + entries.join(",") + "}}";
  }
}
