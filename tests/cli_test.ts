import assert from "node:assert/strict";
import { tempDir } from "./_helpers.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const CONFIG = `${ROOT}deno.json`;
const MAIN = `${ROOT}cli/main.ts`;

async function flowyml(
  cwd: string,
  args: string[],
  flags = ["-A"],
  env: Record<string, string> = {},
) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, "--config", CONFIG, MAIN, ...args],
    cwd,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

const PIPELINE = `
import { Pipeline, step } from "flowyml";
const load = step({ name: "load", outputs: ["rows"] }, () => [3, 1, 2]);
const sorted = step({ name: "sort", inputs: ["rows"], outputs: ["sorted"] }, ({ rows }) => [...rows].sort());
const scale = step({ name: "scale", inputs: ["sorted"], outputs: ["scaled"] },
  ({ sorted }, ctx) => sorted.map((v: number) => v * Number(ctx.params.k ?? 1)));
export default new Pipeline("cli_demo").add(load).add(sorted).add(scale);
`;

Deno.test("cli: run, cache hits, --param, --no-cache, runs list/show", async () => {
  const t = await tempDir();
  try {
    await Deno.writeTextFile(`${t.path}/pipeline.ts`, PIPELINE);
    const r1 = await flowyml(t.path, ["run", "pipeline.ts", "--param", "k=10"]);
    assert.equal(r1.code, 0, r1.stderr);
    assert.match(r1.stdout, /status completed/);
    assert.match(r1.stdout, /✓ scale completed/, "plain progress lines when not a TTY");
    // A small output lives in the metadata store (docs/artifacts.md), a large one in the folder.
    assert.match(r1.stdout, /scaled\s+scale\s+.*sqlite:.*\.flowyml\/metadata\.db#blobs\//);
    const r2 = await flowyml(t.path, ["run", "pipeline.ts", "--param", "k=10"]);
    assert.match(r2.stdout, /steps\s+3 \(3 cache hits\)/);
    const r3 = await flowyml(t.path, ["run", "pipeline.ts", "--param", "k=2"]);
    assert.match(r3.stdout, /steps\s+3 \(2 cache hits\)/, "only the step reading k re-runs");
    const r4 = await flowyml(t.path, ["run", "pipeline.ts", "--param", "k=2", "--no-cache"]);
    assert.match(r4.stdout, /steps\s+3 \(0 cache hits\)/);
    const list = await flowyml(t.path, ["runs", "list"]);
    assert.equal(list.stdout.match(/cli_demo-/g)?.length, 4);
    const id = /run\s+(cli_demo-\S+)/.exec(r1.stdout)![1];
    const show = await flowyml(t.path, ["runs", "show", id]);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /lineage/);
    assert.match(show.stdout, /rows@\w+\s+→\s+sort\s+→\s+sorted@/);
    const missing = await flowyml(t.path, ["runs", "show", "nope"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no run "nope"/);
  } finally {
    await t.cleanup();
  }
});

Deno.test("cli: stack list/show/validate and errors for bad config", async () => {
  const t = await tempDir();
  try {
    await Deno.writeTextFile(
      `${t.path}/flowyml.yaml`,
      `default_stack: dev
stacks:
  dev:
    artifact_store: { type: local, path: ./art }
    metadata_store: { type: sqlite, path: ./meta/db.sqlite }
  broken:
    artifact_store: { type: local, path: "\${ART_ROOT}" }
`,
    );
    // An unset variable makes only its own stack unusable: listed as such, an error when used.
    const list = await flowyml(t.path, ["stack", "list"]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /broken\s+unavailable: environment variable ART_ROOT is not set/);
    assert.match(list.stdout, /\*\s+dev\s+local\s+local\s+sqlite/);
    for (const args of [["stack", "show", "broken"], ["stack", "validate", "broken"]]) {
      const used = await flowyml(t.path, args);
      assert.equal(used.code, 1, used.stdout);
      assert.match(
        used.stderr,
        /stacks\.broken\.artifact_store\.path: environment variable ART_ROOT is not set/,
      );
      assert.match(used.stderr, /fix: export ART_ROOT=/);
    }
    const ok = await flowyml(t.path, ["stack", "list"], ["-A"], { ART_ROOT: "./other" });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /\*\s+dev\s+local\s+local\s+sqlite/);
    const show = await flowyml(t.path, ["stack", "show", "dev"], ["-A"], { ART_ROOT: "x" });
    assert.match(show.stdout, /path: \.\/art/);
    const val = await flowyml(t.path, ["stack", "validate", "dev"], ["-A"], { ART_ROOT: "x" });
    assert.equal(val.code, 0, val.stderr);
    assert.match(val.stdout, /stack "dev" is valid/);
    await Deno.writeTextFile(
      `${t.path}/flowyml.yaml`,
      "stacks:\n  a:\n    orchestrator: { type: airflowz }\n",
    );
    const bad = await flowyml(t.path, ["stack", "show", "a"]);
    assert.match(
      bad.stderr,
      /unknown orchestrator type "airflowz".*registered orchestrator types: [^\n]*\blocal\b/s,
    );
  } finally {
    await t.cleanup();
  }
});

Deno.test("cli: component load persists; --help on every command", async () => {
  const t = await tempDir();
  try {
    const fixture = `${ROOT}tests/fixtures/my_components.ts`;
    const load = await flowyml(t.path, ["component", "load", fixture]);
    assert.equal(load.code, 0, load.stderr);
    assert.match(load.stdout, /loaded artifact_store "memory"/);
    const list = await flowyml(t.path, ["component", "list"]);
    assert.match(
      list.stdout,
      /artifact_store\s+memory\s+file\s+1\.2\.3/,
      "a later command still sees it",
    );
    assert.match(list.stdout, /metadata_store\s+sqlite\s+builtin/);
    const show = await flowyml(t.path, ["component", "show", "local", "--kind", "artifact_store"]);
    assert.match(show.stdout, /"path"/);
    assert.match(show.stdout, /validate\(\): ok/);
    for (
      const cmd of [[], ["run"], ["stack"], ["stack", "list"], ["component", "load"], [
        "runs",
        "show",
      ]]
    ) {
      const h = await flowyml(t.path, [...cmd, "--help"]);
      assert.equal(h.code, 0, `${cmd.join(" ")} --help`);
      assert.match(h.stdout, /Usage: flowyml/);
    }
  } finally {
    await t.cleanup();
  }
});

Deno.test("cli: a missing permission names the exact flag", async () => {
  const t = await tempDir();
  try {
    await Deno.writeTextFile(`${t.path}/pipeline.ts`, PIPELINE);
    const r = await flowyml(t.path, ["run", "pipeline.ts"], [
      `--allow-read=${t.path},${ROOT}`,
      "--allow-env",
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /run again with --allow-(write|read)=/);
    assert.match(r.stderr, /\.flowyml/);
    const ok = await flowyml(t.path, ["run", "pipeline.ts"], [
      `--allow-read=${t.path},${ROOT}`,
      `--allow-write=${t.path}/.flowyml`,
      "--allow-env=FLOWYML_CONFIG,NO_COLOR",
    ]);
    assert.equal(ok.code, 0, ok.stderr);
  } finally {
    await t.cleanup();
  }
});

Deno.test("cli: a misspelt runs list --status and a busy ui --port are errors that say what to do", async () => {
  const t = await tempDir();
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const status = await flowyml(t.path, ["runs", "list", "--status", "complete"]);
    assert.equal(status.code, 1, status.stdout);
    assert.match(status.stderr, /argument 'complete' is invalid\. Allowed choices are .*completed/);
    const port = (busy.addr as Deno.NetAddr).port;
    const ui = await flowyml(t.path, ["ui", "--port", String(port)]);
    assert.equal(ui.code, 1, ui.stdout);
    assert.match(ui.stderr, new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use`));
    assert.match(ui.stderr, /fix: .*--port 0 picks a free one/);
  } finally {
    busy.close();
    await t.cleanup();
  }
});
