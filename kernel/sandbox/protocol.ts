/**
 * The kernel ↔ plugin protocol (version 1), shared by the kernel side and the
 * plugin host worker. See docs/protocol.md.
 *
 * A plugin calls `flowyml_call(ptr, len)` with a JSON request in its own
 * memory; the worker copies it into a SharedArrayBuffer channel and the
 * kernel answers there. Bulk bytes never travel as JSON: they are handles
 * read and written with direct copies into guest memory.
 * @module
 */
/** Protocol version; requests carry it as `v`. */
export const PROTOCOL_VERSION = 1;

/** Int32 slots at the start of the channel buffer. */
export const SLOT = {
  STATE: 0,
  REQ_LEN: 1,
  REQ_PAYLOAD: 2,
  RESP_LEN: 3,
  RESP_PAYLOAD: 4,
  CANCEL: 5,
} as const;
/** Byte offset of the Float64 deadline (epoch ms). */
export const DEADLINE_BYTE = 32;
/** Byte offset where message bytes start. */
export const DATA_BYTE = 64;

/** Values of the STATE slot. */
export const STATE = { IDLE: 0, REQUEST: 1, RESPONSE: 2, DONE: 3 } as const;

/** Host functions a plugin may import from `extism:host/user`. */
export const FLOWYML_IMPORTS = [
  "flowyml_call",
  "flowyml_response",
  "flowyml_input_length",
  "flowyml_input",
  "flowyml_output",
  "flowyml_size",
  "flowyml_read",
  "flowyml_create",
  "flowyml_write",
  "flowyml_write_at",
  "flowyml_take",
  "flowyml_interrupt_check",
] as const;

/** Extism kernel functions a plugin may import from `extism:host/env`. */
export const EXTISM_IMPORTS = [
  "alloc",
  "free",
  "length",
  "length_unsafe",
  "load_u8",
  "load_u64",
  "store_u8",
  "store_u64",
  "input_offset",
  "input_length",
  "input_load_u8",
  "input_load_u64",
  "output_set",
  "error_set",
  "error_get",
  "config_get",
  "var_get",
  "var_set",
  "http_request",
  "http_status_code",
  "http_headers",
  "log_warn",
  "log_info",
  "log_debug",
  "log_error",
  "log_trace",
  "get_log_level",
] as const;

/** Every import a plugin may declare: `module` → names. */
export const IMPORT_ALLOWLIST: Record<string, readonly string[]> = {
  "extism:host/env": EXTISM_IMPORTS,
  "extism:host/user": FLOWYML_IMPORTS,
  // AssemblyScript's default abort handler; reported as a plugin abort.
  env: ["abort"],
};

/** Error codes in `{ ok: false, error: { code } }` responses. */
export type ErrorCode =
  | "denied"
  | "malformed"
  | "oversized"
  | "not_found"
  | "failed"
  | "unsupported"
  | "conflict";

/** A response: JSON, plus optional bytes that the worker turns into a read handle. */
export interface BrokerResponse {
  /** The JSON answer the plugin reads back. */
  json: Record<string, unknown>;
  /** Bytes returned with the answer (e.g. an `http.fetch` body), handed over as a read handle. */
  payload?: Uint8Array;
  /** Stop the call: the plugin broke the protocol. */
  fatal?: boolean;
}

/** Ops whose request `handle` the worker attaches as payload bytes. */
export const PAYLOAD_OPS = new Set(["artifacts.put", "http.fetch"]);

/** Messages kernel → worker. */
export type ToWorker =
  | {
    type: "load";
    id: number;
    name: string;
    module: WebAssembly.Module;
    sab: SharedArrayBuffer;
    config: Record<string, string>;
    maxPages: number;
    maxOutput: number;
    maxMessage: number;
  }
  | { type: "call"; id: number; fn: string; input: Uint8Array; inputs: ArrayBuffer[] }
  | { type: "unload"; id: number };

/** Messages worker → kernel. */
export type FromWorker =
  | { type: "ready" }
  | { type: "loaded"; id: number; exports: string[] }
  | {
    type: "result";
    id: number;
    output: Uint8Array | null;
    /** Buffers of handles the plugin created, by handle id. */
    handles: Record<number, ArrayBuffer>;
    stats: { calls: number; bytesIn: number; bytesOut: number };
  }
  | { type: "error"; id: number; kind: string; message: string }
  | { type: "log"; level: string; message: string };
