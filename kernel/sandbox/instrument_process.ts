/**
 * The instrumenter process: validates untrusted module bytes, rewrites the
 * cooperative interrupt into them with Binaryen and checks the result
 * compiles, in a `deno run` with no permissions at all, under a time and
 * memory budget (prepare.ts), so none of it runs on the kernel's event loop.
 *
 * stdin: the module bytes. stdout: one status byte — 0 then the prepared
 * bytes, or 1 then an error message (UTF-8).
 * @module
 */
import { instrumentInterrupts } from "./instrument.ts";

console.log = console.info = console.debug = console.error;

function writeAll(b: Uint8Array): void {
  let o = 0;
  while (o < b.length) o += Deno.stdout.writeSync(b.subarray(o));
}

async function main(): Promise<void> {
  const bytes = new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer());
  let out: Uint8Array;
  try {
    if (!WebAssembly.validate(bytes as BufferSource)) {
      throw new Error("the module is not valid WebAssembly");
    }
    out = await instrumentInterrupts(bytes);
    // Compiles (V8 validates it fully), so the plugin process will not choke on it.
    new WebAssembly.Module(out as BufferSource);
  } catch (err) {
    writeAll(new Uint8Array([1]));
    writeAll(new TextEncoder().encode(String((err as Error)?.message ?? err).slice(0, 2000)));
    return;
  }
  writeAll(new Uint8Array([0]));
  writeAll(out);
}

await main();
