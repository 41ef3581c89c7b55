/**
 * What a hostile plugin can make the CLI print, and where its audit goes:
 * `flowyml run` progress and `runs show --audit` escape control characters
 * from plugins; a `type: wasm` artifact store audits under the run and step
 * it served; `plugin inspect` prints requested grants as a commented review
 * list, exits 1 for a plugin the kernel would refuse, and bounds downloads.
 */
import assert from "node:assert/strict";
import { sha256Hex } from "../../kernel/hash.ts";
import { formatAudit } from "../../kernel/sandbox/mod.ts";
import { tempDir } from "../_helpers.ts";
import { IMPORTS, wat } from "./_fixtures.ts";
import { floodWat, startServer } from "./_broker_fixtures.ts";
import { flowyml as cli } from "../kernel/_cli.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const STORE_WASM = `${ROOT}examples/plugins/checksum_store/checksum_store.wasm`;

const ESCAPES =
  "\\u001b[1A\\u001b[2K\\rstep evil REFUSED -> OK \\u001b]0;pwned\\u0007 \\u202egnp.exe";

const PIPELINE = `
import { Pipeline, pluginStep, step } from "flowyml";
export default new Pipeline("ansi")
  .add(step({ name: "load", outputs: ["raw"] }, () => "x"))
  .add(pluginStep("ansi", { name: "evil", inputs: ["raw"], outputs: ["out"] }))
  .add(step({ name: "after", inputs: ["out"], outputs: ["done"] }, ({ out }) => out));
`;

Deno.test("cli: ANSI/OSC from a plugin is escaped in flowyml run and runs show --audit; a wasm store audits under its run and step", async () => {
  const t = await tempDir("flowyml-broker-cli-");
  try {
    const evil = await wat(floodWat([
      `{"v":1,"op":"log","message":"${ESCAPES}"}`,
      `{"v":1,"op":"artifacts.get","path":"secrets/${ESCAPES}"}`,
    ], 1));
    await Deno.writeFile(`${t.path}/ansi.wasm`, evil);
    const store = await Deno.readFile(STORE_WASM);
    await Deno.writeTextFile(
      `${t.path}/flowyml.yaml`,
      `plugins:
  ansi:
    source: ${t.path}/ansi.wasm
    sha256: ${sha256Hex(evil)}
  checksum_store:
    source: ${STORE_WASM}
    sha256: ${sha256Hex(store)}
    grants: { artifacts: { read: ["**"], write: ["**"] } }
stacks:
  sealed:
    artifact_store: { type: wasm, plugin: checksum_store, inner: { type: local, path: ${t.path}/sealed } }
    metadata_store: { type: sqlite, path: ${t.path}/meta.db }
`,
    );
    await Deno.writeTextFile(`${t.path}/pipeline.ts`, PIPELINE);
    const run = await cli(t.path, ["run", "pipeline.ts", "--stack", "sealed"]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(
      run.stdout,
      /\[evil\] \\x1b\[1A\\x1b\[2K\\rstep evil REFUSED -> OK \\x1b\]0;pwned\\x07 \\u202egnp\.exe/,
    );
    assert.ok(!run.stdout.includes("\x1b") && !run.stdout.includes("\u202e"), run.stdout);
    const id = /run\s+(ansi-\S+)/.exec(run.stdout)![1];
    const show = await cli(t.path, ["runs", "show", id, "--stack", "sealed", "--audit"]);
    assert.equal(show.code, 0, show.stderr);
    assert.ok(!show.stdout.includes("\x1b") && !show.stdout.includes("\u202e"), show.stdout);
    assert.match(show.stdout, /DENIED\s+artifacts\.get\s+secrets\/\\x1b\[1A/);
    // The store's own brokered writes are in the run's audit, under the step they served.
    for (const s of ["load", "evil", "after"]) {
      assert.match(show.stdout, new RegExp(`checksum_store@${s}\\s+allowed\\s+artifacts\\.put`));
      assert.match(show.stdout, new RegExp(`checksum_store@${s}\\s+allowed\\s+call\\s+write`));
    }
    assert.ok(!/\(store\)/.test(show.stdout));
  } finally {
    await t.cleanup();
  }
});

Deno.test("formatAudit escapes control characters in every cell", () => {
  const out = formatAudit([{
    runId: "r",
    actor: "evil\x1b]0;x\x07",
    op: "log\x9b2K",
    resource: "a\u202eb",
    allowed: false,
    detail: "\x1b[2K\rOK",
    at: 0,
  }]);
  assert.ok(!["\x1b", "\x07", "\x9b", "\u202e"].some((c) => out.includes(c)), out);
  assert.match(out, /evil\\x1b\]0;x\\x07/);
  assert.match(out, /\\x1b\[2K\\rOK/);
});

Deno.test("cli: plugin inspect prints requested grants as a commented review list; a refused plugin exits 1", async () => {
  const t = await tempDir("flowyml-inspect-");
  try {
    const greedy = await wat(
      `(module ${IMPORTS} (memory (export "memory") 1)
      (func (export "run") (result i32) (i32.const 0)))`,
      {
        name: "greedy\u001b]0;pwned\u0007",
        version: "1.0\u202e",
        kind: "step",
        capabilities: { net: ["*"], secrets: ["*"], env: ["HOME"], metadata: true, shell: true },
      },
    );
    await Deno.writeFile(`${t.path}/greedy.wasm`, greedy);
    const ok = await cli(t.path, ["plugin", "inspect", "greedy.wasm"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(!ok.stdout.includes("\x1b") && !ok.stdout.includes("\u202e"), ok.stdout);
    assert.match(ok.stdout, /plugin\s+greedy\\x1b\]0;pwned\\x07 1\.0\\u202e/);
    assert.match(ok.stdout, /# net: \["\*"\] {2}# BROAD: "\*" is a glob/);
    assert.match(ok.stdout, /# secrets: \["\*"\] {2}# BROAD/);
    assert.match(ok.stdout, /# shell: true {2}# not a grant flowyml knows/);
    // The entry grants nothing: every requested grant is a comment, the key a safe name.
    const entry = ok.stdout.slice(ok.stdout.indexOf("plugins:"));
    assert.match(entry, /^ {2}my_plugin:$/m);
    assert.ok(!/^\s+(net|secrets|env|metadata|shell):/m.test(entry), entry);
    assert.match(entry, new RegExp(`sha256: ${sha256Hex(greedy)}`));

    const refusedCases: [string, Uint8Array, string[]][] = [
      [
        "import",
        await wat(`(module (import "extism:host/user" "flowyml_spawn" (func (param i32)))
          (memory (export "memory") 1))`),
        [],
      ],
      ["pin", greedy, ["--sha256", "0".repeat(64)]],
      ["malformed", new TextEncoder().encode("not wasm at all"), []],
    ];
    for (const [name, bytes, extra] of refusedCases) {
      await Deno.writeFile(`${t.path}/${name}.wasm`, bytes);
      const r = await cli(t.path, ["plugin", "inspect", `${name}.wasm`, ...extra]);
      assert.equal(r.code, 1, `${name}: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /REFUSED: /, name);
      assert.ok(!r.stdout.includes("plugins:"), `${name}: printed an entry`);
    }
  } finally {
    await t.cleanup();
  }
});

Deno.test("cli: plugin inspect <url> stops a huge or endless download at its size and time limits", async () => {
  let sent = 0;
  const server = startServer((r) => {
    if (new URL(r.url).pathname === "/slow") {
      return new Promise((res) => r.signal.addEventListener("abort", () => res(new Response(""))));
    }
    return new Response(
      new ReadableStream({
        pull(c) {
          if (sent >= 600 * 1024 ** 2) return c.close();
          sent += 1 << 20;
          c.enqueue(new Uint8Array(1 << 20));
        },
      }),
    );
  });
  const t = await tempDir("flowyml-inspect-url-");
  try {
    const big = await cli(t.path, [
      "plugin",
      "inspect",
      `${server.url}/big.wasm`,
      "--max-size",
      String(4 * 1024 ** 2),
    ]);
    assert.notEqual(big.code, 0);
    assert.match(big.stderr, /larger than the limit of 4194304 bytes/);
    assert.ok(sent > 4 * 1024 ** 2 && sent < 300 * 1024 ** 2, `server sent ${sent} bytes`);
    const slow = await cli(t.path, [
      "plugin",
      "inspect",
      `${server.url}/slow`,
      "--timeout",
      "500",
    ]);
    assert.notEqual(slow.code, 0);
    assert.match(slow.stderr, /took longer than the limit of 500 ms; aborted/);
    assert.equal(server.hits, 2);
  } finally {
    await server.close();
    await t.cleanup();
  }
});
