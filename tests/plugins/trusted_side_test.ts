/**
 * The trusted side of `flowyml run` against hostile code, through the real
 * CLI (`deno run cli/main.ts`) and modules served by Deno.serve on 127.0.0.1:
 *
 * - the parent never executes a locked component module: its top-level code
 *   runs only in the permission planner and the least-privilege child, so a
 *   write outside the project never happens even when the parent could;
 * - the child runs under a frozen Deno lockfile: a computed `import()` of a
 *   module nothing pinned is refused, naming the lockfile, while the pinned
 *   plugin from the same server works;
 * - a plugin's glob net grant never becomes `--allow-net` of the child.
 */
import assert from "node:assert/strict";
import { tempDir } from "../_helpers.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const dec = new TextDecoder();

interface Served {
  base: string;
  hits: Map<string, number>;
}

/** A locked store whose top level tries to write `outside` (and says whether it could). */
function hostileStore(outside: string): string {
  return `import { LocalArtifactStore } from "flowyml";
try {
  Deno.writeTextFileSync(${JSON.stringify(outside)}, "written by a locked module's top level");
  console.error("HOSTILE: wrote outside the project");
} catch (err) {
  console.error("HOSTILE: write refused: " + err.name);
}
export class SneakyArtifactStore extends LocalArtifactStore {
  static override readonly type = "sneaky";
  override toDict() { return { ...super.toDict(), type: "sneaky" }; }
}
export const components = [SneakyArtifactStore];
`;
}

const CONFIG = `default_stack: s
stacks:
  s:
    artifact_store: { type: sneaky, path: .flowyml/artifacts }
`;

const PLAIN = `import { Pipeline, step } from "flowyml";
export default new Pipeline("plain").add(step({ name: "one", outputs: ["x"] }, () => 1));
`;

/** A step that imports a module by a computed URL from the plugin's own server. */
function importingPipeline(base: string): string {
  return `import { Pipeline, step } from "flowyml";
const s = step({ name: "sneak", outputs: ["x"], retries: 2, retryDelayMs: 1 }, async () => {
  await Deno.writeTextFile(".flowyml/attempts.log", "attempt\\n", { append: true });
  const url = ${JSON.stringify(base)} + "/un" + "pinned.ts";
  return (await import(url)).VALUE;
});
export default new Pipeline("sneak").add(s);
`;
}

async function cli(cwd: string, args: string[], options: { write: string }) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      `--allow-write=${options.write}`,
      "--allow-env",
      `--allow-run=${Deno.execPath()}`,
      "--allow-net=127.0.0.1",
      "--allow-import=127.0.0.1",
      "--no-prompt",
      `--config=${ROOT}deno.json`,
      `--lock=${cwd}/deno.lock`,
      `${ROOT}cli/main.ts`,
      ...args,
    ],
    cwd,
    env: { NO_COLOR: "1", DENO_DIR: `${cwd}/../deno_dir` },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function withServer(
  files: Map<string, string>,
  fn: (s: Served, tmp: string) => Promise<void>,
): Promise<void> {
  const tmp = await tempDir("flowyml-trusted-");
  const ac = new AbortController();
  const hits = new Map<string, number>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    (req) => {
      const path = new URL(req.url).pathname;
      hits.set(path, (hits.get(path) ?? 0) + 1);
      const body = files.get(path);
      return body === undefined
        ? new Response("not found", { status: 404 })
        : new Response(body, { headers: { "content-type": "application/typescript" } });
    },
  );
  try {
    await fn({ base: `http://127.0.0.1:${server.addr.port}`, hits }, tmp.path);
  } finally {
    ac.abort();
    await server.finished;
    await tmp.cleanup();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function project(tmp: string, pipeline: string): Promise<string> {
  const dir = `${tmp}/proj`;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.copyFile(`${ROOT}deno.lock`, `${dir}/deno.lock`);
  await Deno.writeTextFile(`${dir}/flowyml.yaml`, CONFIG);
  await Deno.writeTextFile(`${dir}/pipeline.ts`, pipeline);
  return dir;
}

Deno.test("trusted side: the parent never runs a locked module's top-level code", async () => {
  const files = new Map<string, string>();
  await withServer(files, async (s, tmp) => {
    const outside = `${tmp}/outside/pwned.txt`;
    await Deno.mkdir(`${tmp}/outside`);
    files.set("/sneaky.ts", hostileStore(outside));
    const dir = await project(tmp, PLAIN);
    // Loading is an explicit act of trust; this CLI process may write only the project.
    const load = await cli(dir, ["component", "load", `${s.base}/sneaky.ts`], { write: dir });
    assert.equal(load.code, 0, load.stderr);
    assert.match(load.stderr, /HOSTILE: write refused/);
    assert.equal(await exists(outside), false);

    // These CLI processes could write anywhere in tmp; the module's code must not run in them.
    const perms = await cli(dir, ["permissions", "pipeline.ts"], { write: tmp });
    assert.equal(perms.code, 0, perms.stderr);
    assert.match(perms.stdout, /--allow-write=\.flowyml/);
    // The attack really ran (in the planner), and was refused there.
    assert.match(perms.stderr, /HOSTILE: write refused: NotCapable/);
    assert.equal(await exists(outside), false, "planning wrote outside the project");

    const run = await cli(dir, ["run", "pipeline.ts", "--quiet"], { write: tmp });
    assert.equal(run.code, 0, run.stderr + run.stdout);
    assert.match(run.stdout, /status completed/);
    assert.doesNotMatch(run.stderr, /HOSTILE: wrote outside/);
    assert.match(run.stderr, /HOSTILE: write refused: NotCapable/);
    assert.equal(await exists(outside), false, "flowyml run wrote outside the project");
  });
});

Deno.test("trusted side: a computed import() of an unpinned module is refused by the frozen lock", async () => {
  const files = new Map<string, string>();
  files.set("/unpinned.ts", `export const VALUE = "loaded unpinned code";\n`);
  await withServer(files, async (s, tmp) => {
    files.set("/sneaky.ts", hostileStore(`${tmp}/never.txt`));
    const dir = await project(tmp, importingPipeline(s.base));
    const load = await cli(dir, ["component", "load", `${s.base}/sneaky.ts`], { write: dir });
    assert.equal(load.code, 0, load.stderr);
    const run = await cli(dir, ["run", "pipeline.ts", "--quiet", "--show-flags"], { write: dir });
    // The child may import from the plugin's host (the pinned plugin loaded and worked) …
    assert.match(run.stderr, /--allow-import=127\.0\.0\.1:\d+/);
    assert.match(run.stderr, /--frozen/);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(run.stdout, /sneak\s+failed/);
    // … but the unpinned module is refused, naming it and the lockfile.
    assert.match(
      run.stderr,
      /refused to load http:\/\/127\.0\.0\.1:\d+\/unpinned\.ts: it is not pinned in the frozen Deno lockfile \S+\/\.flowyml\/locks\/[0-9a-f]+\.deno\.lock/,
    );
    // The attack really ran: the step asked for the module (Deno fetched it, then refused it).
    assert.ok((s.hits.get("/unpinned.ts") ?? 0) >= 1);
    // Never retried, although the step allows 2 retries: it would fail the same way again.
    const attempts = await Deno.readTextFile(`${dir}/.flowyml/attempts.log`);
    assert.equal(attempts.trim().split("\n").length, 1, attempts);
  });
});
