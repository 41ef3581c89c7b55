/**
 * `flowyml run --json` keeps stdout for the JSON result alone. The least-privilege child's stdout
 * is piped: everything before a random marker line (step prints, plugin hosts, Deno's own notes)
 * goes to stderr, and only what follows the marker (the result) to stdout. In this process, the
 * console's stdout methods write to stderr until the result is printed.
 * @module
 */

/** A marker no pipeline can guess, printed by the child right before the JSON result. */
export function newJsonMarker(): string {
  return `flowyml-json-result-${crypto.randomUUID()}`;
}

/**
 * Copies `stream` to stderr until a line equal to `marker`, and returns the text after it (the
 * result). Text is forwarded as it arrives, except a tail that could be the start of the marker.
 */
export async function splitJsonStdout(
  stream: ReadableStream<Uint8Array>,
  marker: string,
): Promise<string> {
  const enc = new TextEncoder();
  const line = `${marker}\n`;
  let buf = "";
  let result: string | undefined;
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    if (result !== undefined) {
      result += chunk;
      continue;
    }
    buf += chunk;
    const at = buf.indexOf(line);
    if (at >= 0) {
      await writeAll(Deno.stderr, enc.encode(buf.slice(0, at)));
      result = buf.slice(at + line.length);
      buf = "";
      continue;
    }
    const keep = Math.min(buf.length, line.length - 1);
    await writeAll(Deno.stderr, enc.encode(buf.slice(0, buf.length - keep)));
    buf = buf.slice(buf.length - keep);
  }
  if (buf) await writeAll(Deno.stderr, enc.encode(buf));
  return result ?? "";
}

async function writeAll(w: { write(p: Uint8Array): Promise<number> }, bytes: Uint8Array) {
  for (let off = 0; off < bytes.length;) off += await w.write(bytes.subarray(off));
}

type ConsoleMethod = "log" | "info" | "debug";

/**
 * Sends `console.log`, `console.info` and `console.debug` to stderr; the returned function
 * restores them. Steps that run on this thread then cannot print to stdout.
 */
export function consoleToStderr(): () => void {
  const saved: Record<ConsoleMethod, (...args: unknown[]) => void> = {
    log: console.log,
    info: console.info,
    debug: console.debug,
  };
  for (const k of Object.keys(saved) as ConsoleMethod[]) console[k] = console.error;
  return () => {
    for (const k of Object.keys(saved) as ConsoleMethod[]) console[k] = saved[k];
  };
}
