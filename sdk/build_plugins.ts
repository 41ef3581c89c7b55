/**
 * Build the example plugins from source with AssemblyScript (offline, from
 * npm) and embed each plugin's manifest.json as its `flowyml.manifest`
 * custom section.
 *
 * ```sh
 * deno task build:plugins            # writes examples/plugins/<name>/<name>.wasm
 * deno task build:plugins --out DIR  # writes to DIR instead
 * deno run -A sdk/build_plugins.ts --dir sdk/template --out sdk/template   # one plugin folder
 * ```
 * @module
 */
import asc from "assemblyscript/asc";
import { appendCustomSection } from "../kernel/sandbox/wasm_binary.ts";
import { MANIFEST_SECTION } from "../kernel/sandbox/loader.ts";
import { sha256Hex } from "../kernel/hash.ts";

/** Flags every plugin is built with (deterministic output). */
export const ASC_FLAGS = ["--optimize", "--runtime", "stub", "--noAssert"];

/** Build one plugin folder (`plugin.ts` + `manifest.json`) into a module. */
export async function buildPlugin(dir: string): Promise<Uint8Array> {
  const outFile = await Deno.makeTempFile({ suffix: ".wasm" });
  try {
    let err = "";
    const { error } = await asc.main([
      `${dir}/plugin.ts`,
      "--outFile",
      outFile,
      ...ASC_FLAGS,
    ], {
      stderr: {
        write: (
          s: string | Uint8Array,
        ) => (err += typeof s === "string" ? s : new TextDecoder().decode(s)),
      } as never,
    });
    if (error) throw new Error(`asc failed for ${dir}: ${error.message}\n${err}`);
    const bytes = await Deno.readFile(outFile);
    const manifest = JSON.parse(await Deno.readTextFile(`${dir}/manifest.json`));
    return appendCustomSection(
      bytes,
      MANIFEST_SECTION,
      new TextEncoder().encode(JSON.stringify(manifest)),
    );
  } finally {
    await Deno.remove(outFile).catch(() => {});
  }
}

/** The example plugin folders. */
export const EXAMPLES = ["normalize", "checksum_store", "priority_scheduler"];

if (import.meta.main) {
  const i = Deno.args.indexOf("--out");
  const out = i >= 0 ? Deno.args[i + 1] : undefined;
  const d = Deno.args.indexOf("--dir");
  if (d >= 0) {
    const dir = Deno.args[d + 1].replace(/\/$/, "");
    const name = JSON.parse(await Deno.readTextFile(`${dir}/manifest.json`)).name ?? "plugin";
    const bytes = await buildPlugin(dir);
    await Deno.writeFile(`${out ?? dir}/${name}.wasm`, bytes);
    console.log(`${out ?? dir}/${name}.wasm  ${bytes.length} bytes  sha256 ${sha256Hex(bytes)}`);
    Deno.exit(0);
  }
  const root = new URL("../examples/plugins/", import.meta.url).pathname;
  for (const name of EXAMPLES) {
    const bytes = await buildPlugin(`${root}${name}`);
    const dest = out ? `${out}/${name}.wasm` : `${root}${name}/${name}.wasm`;
    await Deno.writeFile(dest, bytes);
    console.log(`${dest}  ${bytes.length} bytes  sha256 ${sha256Hex(bytes)}`);
  }
}
