/**
 * Public-API snapshot: the sorted names exported by `mod.ts` ("flowyml") and
 * `kernel/mod.ts` ("flowyml/kernel"), values and types alike (from
 * `deno doc --json`), must equal tests/api_snapshot.txt. Growing (or
 * shrinking) the public API is then a reviewed change to that file:
 * `UPDATE_SNAPSHOT=1 deno test -A tests/api_snapshot_test.ts` rewrites it.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
const ENTRIES = ["mod.ts", "kernel/mod.ts"];
const SNAPSHOT = new URL("api_snapshot.txt", import.meta.url);

/** The snapshot text: one `# entry (count)` header per entry, then its names, sorted. */
async function currentApi(): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", ...ENTRIES],
    cwd: ROOT.pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const doc = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    nodes: Record<string, { symbols?: { name: string }[] }>;
  };
  const sections = ENTRIES.map((entry) => {
    const symbols = doc.nodes[new URL(entry, ROOT).href]?.symbols ?? [];
    const names = [...new Set(symbols.map((s) => s.name))].sort();
    return [`# ${entry} (${names.length})`, ...names].join("\n");
  });
  return sections.join("\n\n") + "\n";
}

Deno.test("public API: the names mod.ts and kernel/mod.ts export match tests/api_snapshot.txt", async () => {
  const api = await currentApi();
  if (Deno.env.get("UPDATE_SNAPSHOT")) await Deno.writeTextFile(SNAPSHOT, api);
  const committed = await Deno.readTextFile(SNAPSHOT).catch(() => "");
  assert.equal(
    api,
    committed,
    "the public API changed: review the difference, then run " +
      "`UPDATE_SNAPSHOT=1 deno test -A tests/api_snapshot_test.ts` and commit tests/api_snapshot.txt",
  );
});
