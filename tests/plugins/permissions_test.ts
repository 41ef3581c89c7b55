import assert from "node:assert/strict";
import {
  grants,
  importHostOf,
  mergeNeeds,
  parsePermissionMessage,
  permissionCause,
  toDenoFlags,
  toPermissionSet,
} from "../../kernel/permissions.ts";
import { graphIntegrity, importSpecifiers, resolveImport } from "../../cli/integrity.ts";

Deno.test("permissions: merge normalizes, dedupes and drops covered paths", () => {
  const m = mergeNeeds([
    {
      read: ["./.flowyml/artifacts/", "flowyml.yaml"],
      write: [".flowyml/artifacts"],
      env: ["B", "A"],
    },
    { read: [".flowyml"], write: [".flowyml"], env: ["A"], net: ["127.0.0.1:9000"] },
    { import: ["example.com"] },
  ]);
  assert.deepEqual(m.read, [".flowyml", "flowyml.yaml"]);
  assert.deepEqual(m.write, [".flowyml"]);
  assert.deepEqual(m.env, ["A", "B"]);
  assert.deepEqual(toDenoFlags(m, { noPrompt: true }), [
    "--allow-read=.flowyml,flowyml.yaml",
    "--allow-write=.flowyml",
    "--allow-net=127.0.0.1:9000",
    "--allow-env=A,B",
    "--allow-import=example.com",
    "--no-prompt",
  ]);
  assert.deepEqual(toPermissionSet(m).env, ["A", "B"]);
  assert.equal(toPermissionSet(mergeNeeds([{ sys: ["*", "hostname"] }])).sys, true);
  assert.ok(grants(m, "write", ".flowyml/artifacts/objects"));
  assert.ok(!grants(m, "write", "elsewhere"));
  assert.ok(grants(m, "net", "127.0.0.1:9000"));
  assert.throws(() => toDenoFlags(mergeNeeds([{ read: ["a,b"] }])), /contains a comma/);
});

Deno.test("permissions: Deno's NotCapable message gives the exact flag", () => {
  assert.deepEqual(
    parsePermissionMessage('Requires env access to "TOKEN", run again with the --allow-env flag'),
    { kind: "env", resource: "TOKEN", flag: "--allow-env=TOKEN" },
  );
  assert.equal(
    parsePermissionMessage('Requires net access to "api.example.com:443", run again…')?.flag,
    "--allow-net=api.example.com:443",
  );
  assert.equal(importHostOf("http://127.0.0.1:8000/mod.ts"), "127.0.0.1:8000");
  assert.equal(importHostOf("https://example.com/x/mod.ts"), "example.com");
  assert.equal(importHostOf("npm:zod@4"), undefined);
});

Deno.test("permissions: the refused access is found through an error's cause chain", () => {
  const denied = new Deno.errors.NotCapable(
    'Requires read access to "/data/x.csv", run again with the --allow-read flag',
  );
  const wrapped = new Error("step failed", { cause: new Error("load failed", { cause: denied }) });
  const found = permissionCause(wrapped);
  assert.equal(found?.error, denied);
  assert.deepEqual(found?.access, {
    kind: "read",
    resource: "/data/x.csv",
    flag: "--allow-read=/data/x.csv",
  });
  assert.equal(permissionCause(new Error("no permission involved")), undefined);
  const loop: { message: string; cause?: unknown } = { message: "loop" };
  loop.cause = loop; // a cause cycle ends the walk instead of hanging it
  assert.equal(permissionCause(loop), undefined);
});

Deno.test("integrity: import scanning and resolution", () => {
  const src = `import { a } from "./a.ts";
import type { B } from '../b.ts';
export { c } from "https://x.test/c.ts";
import "./side.ts";
const d = await import("./d.ts");
import { z } from "zod";
// import "./commented.ts";
/* import "./block.ts"; */`;
  assert.deepEqual(importSpecifiers(src).sort(), [
    "../b.ts",
    "./a.ts",
    "./d.ts",
    "./side.ts",
    "https://x.test/c.ts",
    "zod",
  ]);
  assert.equal(resolveImport("./a.ts", "http://h:1/p/m.ts"), "http://h:1/p/a.ts");
  assert.equal(resolveImport("zod", "http://h:1/p/m.ts"), undefined);
  assert.equal(resolveImport("file:///etc/x.ts", "http://h:1/m.ts"), "file:///etc/x.ts");
  assert.equal(resolveImport("/etc/x.ts", "http://h:1/m.ts"), "http://h:1/etc/x.ts");
  // Order-independent.
  assert.equal(graphIntegrity({ b: "2", a: "1" }), graphIntegrity({ a: "1", b: "2" }));
  assert.notEqual(graphIntegrity({ a: "1" }), graphIntegrity({ a: "2" }));
});

Deno.test("permissions: a plugin's glob net grant never becomes --allow-net of the pipeline child", async () => {
  const { parseConfig } = await import("../../kernel/config.ts");
  const { computePermissions } = await import("../../cli/launcher.ts");
  await import("../../plugins/mod.ts");
  const source =
    new URL("../../examples/plugins/normalize/normalize.wasm", import.meta.url).pathname;
  const config = parseConfig(`plugins:
  wild:
    source: ${source}
    grants:
      net: ["*.example.com", "api.example.org:443"]
      secrets: []
`);
  const p = await computePermissions(config, "local", { lock: { version: 1, components: [] } });
  assert.ok(!p.flags.some((f) => f.startsWith("--allow-net")), p.flags.join(" "));
  assert.deepEqual(p.needs.net, []);
  // The brokered HTTP runs in a net helper process the kernel starts (Deno itself).
  assert.ok(p.flags.includes(`--allow-run=${Deno.execPath()}`), p.flags.join(" "));
});

Deno.test("lockfile: the run lockfile is written exactly as Deno writes it", async () => {
  const { formatDenoLock } = await import("../../cli/lockfile.ts");
  const text = await Deno.readTextFile(new URL("../../deno.lock", import.meta.url));
  // So a frozen lockfile's diff names only the module it refused.
  assert.equal(formatDenoLock(JSON.parse(text)), text);
});

Deno.test("permissions: missing permissions and unpinned modules are not retryable", async () => {
  const { isUnretryable } = await import("../../kernel/permissions.ts");
  assert.ok(isUnretryable(new Deno.errors.NotCapable('Requires read access to "/x"')));
  assert.ok(isUnretryable(new Error("step failed", { cause: new Deno.errors.NotCapable("x") })));
  // As the message of an error from another process (a queue worker).
  assert.ok(isUnretryable(new Error('needs read access to "/x" … (Deno flag --allow-read=/x)')));
  assert.ok(isUnretryable(new TypeError("The lockfile is out of date. Run `deno install`…")));
  assert.ok(!isUnretryable(new Error("connection reset")));
});
