/**
 * `flowyml plugin inspect <file-or-url>`: what a WASM plugin is, what it
 * asks for, and its sha256 — read from the binary without running it.
 * @module
 */
import type { Command } from "commander";
// @ts-types="@types/js-yaml"
import { dump as stringify } from "js-yaml";
import { sha256Hex } from "../../kernel/hash.ts";
import {
  checkImports,
  fetchPluginBytes,
  listFunctionExports,
  listImports,
  type PluginManifest,
  readManifest,
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

/** Inspect plugin bytes (no compilation, no instantiation). */
export function inspectPlugin(source: string, bytes: Uint8Array): PluginReport {
  const imports = listImports(bytes);
  let refused: string | undefined;
  try {
    checkImports("(inspected)", imports);
  } catch (err) {
    refused = (err as Error).message.split("\n")[0];
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
    source,
    sha256: sha256Hex(bytes),
    size: bytes.length,
    manifest: readManifest(bytes),
    exports: listFunctionExports(bytes),
    imports: imports.map((i) => `${i.module} ${i.name}`),
    uses,
    ...(refused ? { refused } : {}),
  };
}

/** Render a report for the terminal, ending with a ready-to-paste flowyml.yaml entry. */
export function formatPluginReport(r: PluginReport): string {
  const m = r.manifest;
  const name = m.name ?? "my_plugin";
  const lines = [
    `plugin   ${m.name ?? "(no manifest name)"} ${m.version ?? ""}`.trimEnd(),
    `kind     ${m.kind ?? "(not declared)"}`,
    `ops      ${(m.ops ?? r.exports).join(", ") || "(none)"}`,
    `exports  ${r.exports.join(", ") || "(none)"}`,
    `sha256   ${r.sha256}`,
    `size     ${r.size} bytes`,
    ...(m.description ? [`about    ${m.description}`] : []),
    "",
    "requested capabilities:",
    m.capabilities
      ? stringify(m.capabilities).trimEnd().split("\n").map((l) => `  ${l}`).join("\n")
      : "  (none declared)",
    "host imports:",
    ...r.imports.map((i) => `  ${i}`),
    ...(r.uses.length ? ["uses:", ...r.uses.map((u) => `  - ${u}`)] : []),
    ...(r.refused ? ["", `REFUSED: ${r.refused}`] : []),
    "",
    "to use it, add to flowyml.yaml (grant only what you accept):",
    stringify({
      plugins: {
        [name]: {
          source: r.source,
          sha256: r.sha256,
          grants: m.capabilities ?? { net: [], env: [] },
        },
      },
    }).trimEnd(),
  ];
  return lines.join("\n");
}

/** Register `flowyml plugin inspect`. */
export function registerPluginCommands(program: Command): void {
  const plugin = program.command("plugin").description("inspect sandboxed WASM plugins");
  plugin.command("inspect").description(
    "show a plugin's manifest, requested capabilities and sha256",
  )
    .argument("<file-or-url>", "a .wasm file or an https:// URL")
    .option("--json", "print the report as JSON")
    .action(async (source: string, opts: { json?: boolean }) => {
      const bytes = await fetchPluginBytes(source);
      const report = inspectPlugin(source, bytes);
      console.log(opts.json ? JSON.stringify(report, null, 2) : formatPluginReport(report));
    });
}
