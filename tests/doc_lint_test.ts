/**
 * Every published entry point (deno.json `exports`) passes `deno doc --lint`:
 * each exported symbol and public member has JSDoc, exported values have
 * explicit types, and public signatures name only exported types. The one
 * exception is a type of an npm client library that a method hands out on
 * purpose (the queue's ioredis client, the PostgreSQL store's `sql`, the CLI's
 * commander program): re-exporting those pulls the library's own declarations
 * into the lint. They are listed here, by symbol, so nothing else slips in.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

/** `public type '<symbol>' references private type '<npm type>'`, allowed. */
const NPM_TYPES_HANDED_OUT = [
  "QueueOrchestrator.prototype.client -> Redis",
  "listWorkers -> Redis",
  "PostgresMetadataStore.prototype.sql -> Sql",
  "Register -> Command",
  "buildProgram -> Command",
];

Deno.test("deno doc --lint: the published entry points are documented and fully typed", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))) as {
    exports: Record<string, string>;
  };
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--lint", ...Object.values(config.exports)],
    cwd: ROOT.pathname,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  const errors = [...text.matchAll(/^error\[([a-z-]+)\]: (.*)$/gm)].map(([, kind, msg]) => {
    const ref = /public type '([^']+)' references private type '([^']+)'/.exec(msg);
    return kind === "private-type-ref" && ref ? `${ref[1]} -> ${ref[2]}` : `${kind}: ${msg}`;
  });
  const unexpected = errors.filter((e) => !NPM_TYPES_HANDED_OUT.includes(e));
  assert.deepEqual(unexpected, [], text);
});
