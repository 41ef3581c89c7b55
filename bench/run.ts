/**
 * Runs every benchmark script in bench/ in turn (each prints its figures next
 * to the raw baseline). Usage: `deno task bench [name…]`, e.g. `deno task bench core`.
 * @module
 */
const dir = new URL("./", import.meta.url);
const only = Deno.args;
const files = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith("_bench.ts"))
  .filter((n) => !only.length || only.some((o) => n.startsWith(o))).sort();
let failed = 0;
for (const f of files) {
  console.log(`\n=== ${f} ===`);
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(f, dir).pathname],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (code !== 0) failed++;
}
if (failed) Deno.exit(1);
