/**
 * The CLI installed exactly as the README says (`deno install -g …`, into a temp `--root`) in
 * projects outside the repo: the embedded local stack, the README's `dev` stack under `./data`,
 * and a worker-executor stack. Read-only commands (`runs list`, `runs show`, `stack validate`)
 * run under flags without any `--allow-write`.
 */
import assert from "node:assert/strict";
import { tempDir } from "../_helpers.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** The README's `deno install` command, as words, with `$PWD` = the checkout. */
async function readmeInstall(): Promise<string[]> {
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  const m = /```sh\n(deno install -g [^`]*?cli\/main\.ts)\n```/.exec(readme);
  assert.ok(m, "README.md has a deno install -g … cli/main.ts block");
  return m[1].replace(/\\\n/g, " ").split(/\s+/).filter(Boolean)
    .map((w) => w.replace('"$PWD/deno.json"', `${ROOT}deno.json`))
    .map((w) => (w === "cli/main.ts" ? `${ROOT}cli/main.ts` : w));
}

async function sh(cmd: string, args: string[], cwd: string) {
  const out = await new Deno.Command(cmd, {
    args,
    cwd,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

const PIPELINE = `import { Pipeline, step } from "flowyml";
const hello = step({ name: "hello", outputs: ["msg"] }, () => "hi");
const shout = step({ name: "shout", inputs: ["msg"], outputs: ["loud"] }, ({ msg }) =>
  String(msg).toUpperCase());
export default new Pipeline("installed").add(hello).add(shout);
`;

/** The README's dev stack (paths under ./data), plus a worker-executor stack. */
const YAML = `stacks:
  dev:
    type: local
    artifact_store: { type: local, path: ./data/artifacts }
    metadata_store: { type: sqlite, path: ./data/metadata.db }
  workers:
    executor: { type: worker, workers: 2 }
    artifact_store: { type: local, path: ./data/artifacts }
    metadata_store: { type: sqlite, path: ./data/metadata.db }
default_stack: dev
`;

/** The checkout's CLI under narrowed flags: read anything, run deno, write nothing. */
function readOnlyArgs(args: string[]): string[] {
  return [
    "run",
    "--allow-read",
    "--allow-env",
    "--allow-run=deno",
    `--config=${ROOT}deno.json`,
    `${ROOT}cli/main.ts`,
    ...args,
  ];
}

Deno.test("installed CLI (README's deno install): local, ./data and worker stacks", async () => {
  const root = await tempDir("flowyml-install-root-");
  const proj = await tempDir("flowyml-installed-");
  try {
    const install = await readmeInstall();
    const inst = await sh(Deno.execPath(), [...install.slice(1), "--root", root.path], proj.path);
    assert.equal(inst.code, 0, inst.stderr);
    const bin = `${root.path}/bin/flowyml`;
    await Deno.writeTextFile(`${proj.path}/pipeline.ts`, PIPELINE);

    // No flowyml.yaml: the embedded local stack in ./.flowyml.
    const local = await sh(bin, ["run", "--json", "pipeline.ts"], proj.path);
    assert.equal(local.code, 0, local.stderr);
    assert.equal(JSON.parse(local.stdout).status, "completed");

    await Deno.writeTextFile(`${proj.path}/flowyml.yaml`, YAML);
    const ids: string[] = [];
    for (const stack of ["dev", "workers"]) {
      const r = await sh(bin, ["run", "--json", "--stack", stack, "pipeline.ts"], proj.path);
      assert.equal(r.code, 0, `${stack}: ${r.stderr}`);
      const result = JSON.parse(r.stdout);
      assert.equal(result.status, "completed", stack);
      ids.push(result.runId);
    }
    await Deno.stat(`${proj.path}/data/metadata.db`);

    for (const [cmd, args] of [[bin, []], [Deno.execPath(), ["readonly"]]] as const) {
      const run = (a: string[]) =>
        args.length ? sh(cmd, readOnlyArgs(a), proj.path) : sh(cmd, a, proj.path);
      const list = await run(["runs", "list", "--json"]);
      assert.equal(list.code, 0, list.stderr);
      const runIds = (JSON.parse(list.stdout) as { runId: string }[]).map((x) => x.runId);
      for (const id of ids) assert.ok(runIds.includes(id), `${id} in ${runIds}`);
      const show = await run(["runs", "show", ids[1], "--json"]);
      assert.equal(show.code, 0, show.stderr);
      assert.equal(JSON.parse(show.stdout).run.status, "completed");
      for (const stack of ["dev", "workers"]) {
        const v = await run(["stack", "validate", stack]);
        assert.equal(v.code, 0, v.stderr);
        assert.match(v.stdout, new RegExp(`stack "${stack}" is valid`));
      }
    }
  } finally {
    await proj.cleanup();
    await root.cleanup();
  }
});

Deno.test("read-only commands without write access: a write is refused naming the flag", async () => {
  const proj = await tempDir("flowyml-readonly-");
  try {
    await Deno.writeTextFile(`${proj.path}/pipeline.ts`, PIPELINE);
    await Deno.writeTextFile(`${proj.path}/flowyml.yaml`, YAML);
    const made = await sh(
      Deno.execPath(),
      ["run", "-A", `--config=${ROOT}deno.json`, `${ROOT}cli/main.ts`, "run", "pipeline.ts"],
      proj.path,
    );
    assert.equal(made.code, 0, made.stderr);
    const before = await Deno.readFile(`${proj.path}/data/metadata.db`);
    const list = await sh(Deno.execPath(), readOnlyArgs(["runs", "list"]), proj.path);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /installed\s+completed/);
    assert.deepEqual(await Deno.readFile(`${proj.path}/data/metadata.db`), before);
    // A run here (in this process, which may not write) is refused with the exact flag.
    const run = await sh(
      Deno.execPath(),
      readOnlyArgs(["run", "--inherit-permissions", "pipeline.ts"]),
      proj.path,
    );
    assert.equal(run.code, 1);
    assert.match(run.stderr, /--allow-write=(\.\/)?data/);
  } finally {
    await proj.cleanup();
  }
});
