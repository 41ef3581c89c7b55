/**
 * What loading a locked component module takes (cli/lockfile.ts
 * `lockedModuleAccess`): the planner and the run's child get the same hosts
 * and files from it.
 * @module
 */
import assert from "node:assert/strict";
import { lockedModuleAccess } from "../cli/lockfile.ts";

const base = { entries: [], loadedAt: "2026-12-01T00:00:00Z" };

Deno.test("locked module access: files relative to the root module (percent-decoded) and remote hosts", () => {
  const access = lockedModuleAccess({
    ...base,
    source: "./my plugins/store.ts",
    modules: {
      "./store.ts": "a",
      "./sub dir/util.ts": "b",
      "file:///opt/shared%20code/x.ts": "c",
      "/abs/y.ts": "d",
      "https://example.com:8443/lib/z.ts": "e",
      "https://cdn.example.org/w.ts": "f",
    },
  }, "/proj/flowyml.lock");
  assert.deepEqual(access.hosts, ["cdn.example.org", "example.com:8443"]);
  assert.deepEqual(access.files, [
    "/proj/my plugins/store.ts",
    "/proj/my plugins/sub dir/util.ts",
    "/opt/shared code/x.ts",
    "/abs/y.ts",
  ]);
});

Deno.test("locked module access: a jsr: source is imported from jsr.io; no modules: the root", () => {
  assert.deepEqual(
    lockedModuleAccess({ ...base, source: "jsr:@acme/store@1.0.0" }, "/p/flowyml.lock"),
    {
      hosts: ["jsr.io"],
      files: [],
    },
  );
  assert.deepEqual(lockedModuleAccess({ ...base, source: "./store.ts" }, "/p/flowyml.lock"), {
    hosts: [],
    files: ["/p/store.ts"],
  });
});
