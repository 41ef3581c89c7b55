/**
 * The kernel ↔ plugin protocol (version 1), shared by the kernel side and the
 * plugin host process. See docs/protocol.md.
 *
 * A plugin calls `flowyml_call(ptr, len)` with a JSON request in its own
 * memory; its host process (a separate OS process, host_process.ts) sends
 * it to the kernel as a REQUEST frame on its stdout and blocks reading the
 * RESPONSE frame on its stdin. Bulk bytes never travel as JSON: they are
 * raw frame data, copied straight into and out of guest memory.
 * @module
 */
/** Protocol version; requests carry it as `v`. */
export const PROTOCOL_VERSION = 1;

/**
 * Frames on the kernel ↔ plugin-process pipes (stdin/stdout of the plugin
 * process). Every frame is a 12-byte header — `u32 metaLen`, `u32 dataLen`
 * (little-endian), `u8 type`, three zero bytes — then `metaLen` bytes of
 * meta (JSON or raw request/response JSON) and `dataLen` raw bytes (module,
 * handle contents, payloads: never JSON or base64).
 */
export const FRAME_HEADER = 12;

/** Frame types. Kernel → plugin process: LOAD, INPUT, CALL, RESPONSE. The rest go the other way. */
export const FRAME = {
  /** meta: {@linkcode LoadMeta}; data: the prepared module bytes. */
  LOAD: 1,
  /**
   * data: bytes of read handle 1, 2, … (in order) of the CALL just sent; they
   * follow it, and the process reads them as the plugin reads the handles.
   */
  INPUT: 2,
  /**
   * meta: `{fn, deadline, inputs}` (`inputs`: the byte sizes of the INPUT
   * frames that follow); data: the call's input JSON.
   */
  CALL: 3,
  /** meta: the broker's JSON answer; data: payload bytes (become a read handle). */
  RESPONSE: 4,
  /** The process has loaded Extism and waits for LOAD. */
  READY: 16,
  /** meta: `{exports}`. */
  LOADED: 17,
  /** meta: the raw request JSON; data: the bytes of the handle it names, if any. */
  REQUEST: 18,
  /** meta: `{level, message}`. */
  LOG: 19,
  /**
   * meta: `{id, off, size}`; data: bytes `off…` of a handle the plugin wrote
   * (`size`: its length or capacity so far). Streamed while the plugin writes
   * it in order, each frame where the last ended; `off` 0 starts the handle
   * over. All are sent before RESULT.
   */
  HANDLE: 20,
  /** meta: `{stats, hasOutput}`; data: the output JSON. Ends a call. */
  RESULT: 21,
  /** meta: `{kind, message}`. Ends a load or a call. */
  ERROR: 22,
  /**
   * meta: `{reads: [fn, key, found][], dropped}`: the Extism host reads
   * (`config_get`) the plugin made during the call, for the audit trail.
   * Sent just before RESULT or ERROR when there were any.
   */
  READS: 23,
} as const;

/** Meta of a LOAD frame. */
export interface LoadMeta {
  name: string;
  config: Record<string, string>;
  maxPages: number;
  maxOutput: number;
  maxMessage: number;
  /** Cap of Extism's var bytes (`memory.maxVarBytes`), at most the memory grant. */
  maxVarBytes?: number;
  /** RSS limit the host process checks itself against (defence in depth); 0 or absent: none. */
  maxRss?: number;
}

/** Sizes of {@linkcode frameHead}. */
export interface FrameSizes {
  /** `dataLen` of the frame. */
  data: number;
  /** Extra bytes left at the end of the result, for small data written in the same write. */
  room?: number;
}

/**
 * Encode a frame header plus meta; the data is written separately, uncopied,
 * or copied into the `room` left at the end of the result.
 */
export function frameHead(type: number, meta: Uint8Array, sizes: FrameSizes): Uint8Array {
  const dataLen = sizes.data;
  const out = new Uint8Array(FRAME_HEADER + meta.length + (sizes.room ?? 0));
  const v = new DataView(out.buffer);
  v.setUint32(0, meta.length, true);
  v.setUint32(4, dataLen, true);
  out[8] = type;
  out.set(meta, FRAME_HEADER);
  return out;
}

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

/** A response: JSON, plus optional bytes that the host process turns into a read handle. */
export interface BrokerResponse {
  /** The JSON answer the plugin reads back. */
  json: Record<string, unknown>;
  /** Bytes returned with the answer (e.g. an `http.fetch` body), handed over as a read handle. */
  payload?: Uint8Array;
  /** Stop the call: the plugin broke the protocol. */
  fatal?: boolean;
}

/** Ops whose request `handle` the host process attaches as payload bytes. */
export const PAYLOAD_OPS = new Set(["artifacts.put", "http.fetch"]);
