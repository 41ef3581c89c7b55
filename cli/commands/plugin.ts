/**
 * `flowyml plugin inspect <file-or-url>`: what a WASM plugin is, what it
 * asks for, and its sha256 — read from the binary without running it.
 * Every string that comes from the plugin (names, imports, manifest fields)
 * is shown with control characters escaped; the capabilities it requests
 * are printed as a commented list to review, never as a ready grant; a
 * plugin the kernel would refuse makes the command exit non-zero.
 * @module
 */
import type { Command } from "commander";
import { sha256Hex } from "../../kernel/hash.ts";
import { safeText } from "../../kernel/display.ts";
import {
  checkImports,
  listFunctionExports,
  listImports,
  type PluginManifest,
  readManifest,
  SandboxError,
} from "../../kernel/sandbox/mod.ts";

/** What `plugin inspect` reports. */
export interface PluginReport {
  source: string;
  sha256: string;
  size: number;
  manifest: PluginManifest;
  exports: string[];
  imports: string[];
  /** Capabilities implied by its imports (e.g. it can make brokered requests). */
  uses: string[];
  /** Why the kernel would refuse it, if it would. */
  refused?: string;
}

/** Options of {@linkcode inspectPlugin}. */
export interface InspectOptions {
  /** The sha256 the plugin is expected to have (a pin); a mismatch refuses it. */
  sha256?: string;
}

/** Inspect plugin bytes (no compilation, no instantiation). */
export function inspectPlugin(
  source: string,
  bytes: Uint8Array,
  options: InspectOptions = {},
): PluginReport {
  const sha256 = sha256Hex(bytes);
  const base = { source, sha256, size: bytes.length };
  let imports: ReturnType<typeof listImports>;
  let manifest: PluginManifest;
  let exports: string[];
  try {
    imports = listImports(bytes);
    exports = listFunctionExports(bytes);
    manifest = readManifest(bytes);
  } catch (err) {
    const why = (err as Error).message.split("\n")[0];
    return {
      ...base,
      manifest: {},
      exports: [],
      imports: [],
      uses: [],
      refused: `malformed: ${why}`,
    };
  }
  let refused: string | undefined;
  if (options.sha256 && options.sha256.toLowerCase() !== sha256) {
    refused =
      `sha256 mismatch: the pin is ${options.sha256.toLowerCase()} but the bytes have ${sha256}`;
  }
  try {
    checkImports("(inspected)", imports);
  } catch (err) {
    refused ??= (err as Error).message.split("\n")[0];
  }
  const names = new Set(imports.map((i) => i.name));
  const uses: string[] = [];
  if (names.has("flowyml_call")) {
    uses.push(
      "brokered requests (artifacts, log, config, env, secrets, http …) — each checked against grants",
    );
  }
  if (names.has("flowyml_read") || names.has("flowyml_write")) uses.push("bulk data handles");
  if (names.has("http_request")) uses.push("extism http_request (always refused: use the broker)");
  return {
    ...base,
    manifest: manifest && typeof manifest === "object" ? manifest : {},
    exports,
    imports: imports.map((i) => `${i.module} ${i.name}`),
    uses,
    ...(refused ? { refused } : {}),
  };
}

const KNOWN_GRANTS = new Set([
  "artifacts",
  "net",
  "env",
  "secrets",
  "config",
  "metadata",
  "registry",
  "orchestration",
  "memory",
  "timeout",
  "max_output",
  "max_message",
]);

/** Strings inside `v` that are globs (`*`, `?`). */
function globsIn(v: unknown): string[] {
  if (typeof v === "string") return /[*?]/.test(v) ? [v] : [];
  if (Array.isArray(v)) return v.flatMap(globsIn);
  if (v && typeof v === "object") return Object.values(v).flatMap(globsIn);
  return [];
}

/** The requested capabilities as commented lines to review (`# net: ["*"]  # BROAD …`). */
export function reviewLines(caps: unknown, indent = ""): string[] {
  if (!caps || typeof caps !== "object" || Array.isArray(caps)) {
    return [`${indent}# (no capabilities declared: grant nothing until you know what it needs)`];
  }
  const lines: string[] = [];
  for (const [k, v] of Object.entries(caps)) {
    const notes: string[] = [];
    if (!KNOWN_GRANTS.has(k)) notes.push("not a grant flowyml knows: the config would be refused");
    const globs = globsIn(v);
    if (globs.length) {
      notes.push(
        `BROAD: ${globs.map((g) => JSON.stringify(g)).join(", ")} is a glob; grant exact names`,
      );
    }
    if (v === true) notes.push("review: grants the whole capability");
    lines.push(
      safeText(
        `${indent}# ${k}: ${JSON.stringify(v)}${notes.length ? `  # ${notes.join("; ")}` : ""}`,
      ),
    );
  }
  return lines.length ? lines : [`${indent}# (no capabilities declared)`];
}

/** A YAML key for the entry: the manifest name if it is a plain identifier. */
function entryName(m: PluginManifest): string {
  return typeof m.name === "string" && /^[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(m.name)
    ? m.name
    : "my_plugin";
}

/** Render a report for the terminal, ending with a flowyml.yaml entry whose grants are comments. */
export function formatPluginReport(r: PluginReport): string {
  const m = r.manifest;
  const s = (v: unknown) => safeText(v, { max: 500 });
  const ops = Array.isArray(m.ops) ? m.ops.map(s) : r.exports.map(s);
  const lines = [
    `plugin   ${m.name !== undefined ? s(m.name) : "(no manifest name)"} ${
      m.version !== undefined ? s(m.version) : ""
    }`.trimEnd(),
    `kind     ${m.kind !== undefined ? s(m.kind) : "(not declared)"}`,
    `ops      ${ops.join(", ") || "(none)"}`,
    `exports  ${r.exports.map(s).join(", ") || "(none)"}`,
    `sha256   ${r.sha256}`,
    `size     ${r.size} bytes`,
    ...(m.description !== undefined ? [`about    ${s(m.description)}`] : []),
    "",
    "requested capabilities: (a request, not a grant: review each one)",
    ...reviewLines(m.capabilities, "  "),
    "host imports:",
    ...r.imports.map((i) => `  ${s(i)}`),
    ...(r.uses.length ? ["uses:", ...r.uses.map((u) => `  - ${u}`)] : []),
  ];
  if (r.refused) {
    lines.push(
      "",
      `REFUSED: ${s(r.refused)}`,
      "the kernel would refuse this plugin; no entry printed",
    );
    return lines.join("\n");
  }
  lines.push(
    "",
    "to use it, add to flowyml.yaml, then uncomment only the grants you accept:",
    "plugins:",
    `  ${entryName(m)}:`,
    `    source: ${JSON.stringify(r.source)}`,
    `    sha256: ${r.sha256}`,
    "    grants: # nothing is granted until you uncomment it",
    ...reviewLines(m.capabilities, "      "),
  );
  return lines.join("\n");
}

/** Limits of `plugin inspect`'s read or download. */
export interface FetchLimits {
  /** Max bytes (default 64 MiB). */
  maxBytes: number;
  /** Max time of a download, ms (default 60 s). */
  timeoutMs: number;
}

/** Read a plugin file or download it, streamed and aborted past `limits`. */
export async function readPluginSource(source: string, limits: FetchLimits): Promise<Uint8Array> {
  const tooBig = () =>
    new SandboxError(`${source} is larger than the limit of ${limits.maxBytes} bytes`, {
      hint: "pass a larger --max-size if you expect a plugin this big",
    });
  if (!/^https?:\/\//.test(source)) {
    if ((await Deno.stat(source)).size > limits.maxBytes) throw tooBig();
    return await Deno.readFile(source);
  }
  if (source.startsWith("http://") && !/^http:\/\/(127\.0\.0\.1|localhost)[:/]/.test(source)) {
    throw new SandboxError(`plugin source ${source} is plain http`, {
      hint: "use an https:// URL",
    });
  }
  const signal = AbortSignal.timeout(limits.timeoutMs);
  try {
    const res = await fetch(source, { signal });
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      throw new SandboxError(`could not download plugin ${source}: HTTP ${res.status}`);
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const c of res.body) {
      size += c.length;
      if (size > limits.maxBytes) throw tooBig();
      chunks.push(c);
    }
    const out = new Uint8Array(size);
    let o = 0;
    for (const c of chunks) out.set(c, (o += c.length) - c.length);
    return out;
  } catch (err) {
    if (signal.aborted) {
      throw new SandboxError(
        `downloading ${source} took longer than the limit of ${limits.timeoutMs} ms; aborted`,
        { hint: "pass a larger --timeout if the server is slow" },
      );
    }
    throw err;
  }
}

/** Register `flowyml plugin inspect`. */
export function registerPluginCommands(program: Command): void {
  const plugin = program.command("plugin").description("inspect sandboxed WASM plugins");
  plugin.command("inspect").description(
    "show a plugin's manifest, requested capabilities and sha256; exits 1 if it would be refused",
  )
    .argument("<file-or-url>", "a .wasm file or an https:// URL")
    .option("--json", "print the report as JSON")
    .option("--sha256 <hex>", "the sha256 you expect (a pin); a mismatch refuses the plugin")
    .option("--max-size <bytes>", "largest plugin to read or download", String(64 * 1024 ** 2))
    .option("--timeout <ms>", "longest a download may take", "60000")
    .action(
      async (
        source: string,
        opts: { json?: boolean; sha256?: string; maxSize: string; timeout: string },
      ) => {
        const bytes = await readPluginSource(source, {
          maxBytes: Number(opts.maxSize),
          timeoutMs: Number(opts.timeout),
        });
        const report = inspectPlugin(source, bytes, { sha256: opts.sha256 });
        console.log(opts.json ? JSON.stringify(report, null, 2) : formatPluginReport(report));
        if (report.refused) Deno.exitCode = 1;
      },
    );
}
