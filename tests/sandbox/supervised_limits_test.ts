/**
 * Memory limits where the kernel cannot touch cgroups itself (issue 9):
 *
 * - flowyml's own RSS check inside the plugin process (always on) stops
 *   Extism alloc hoarding with no OS limit at all (`in-process` mode);
 * - through the real CLI (`deno run -A cli/main.ts run pipeline.ts`), whose
 *   pipeline child holds least-privilege flags (Deno refuses it `/sys` and
 *   `/proc/<pid>`), the parent's limits supervisor puts each plugin process
 *   in a real cgroup: the hoarding step fails at its 16 MiB grant, nothing
 *   is printed about a watchdog, and the plugin process's `/proc/<pid>/cgroup`
 *   (read here, with -A) names its flowyml group;
 * - the supervisor refuses a pid that is not a flowyml host process below
 *   the child it started, and a wrong token.
 * @module
 */
import assert from "node:assert/strict";
import { dirname } from "node:path";
import { Pipeline, step } from "../../mod.ts";
import {
  closePluginHosts,
  configurePlugins,
  forceLimitMode,
  limitMode,
  pluginStep,
} from "../../kernel/sandbox/mod.ts";
import { sha256Hex } from "../../kernel/hash.ts";
import { SupervisorClient } from "../../kernel/sandbox/limits_client.ts";
import { processStat } from "../../kernel/sandbox/limits.ts";
import { startLimitsSupervisor } from "../../cli/limits_supervisor.ts";
import { IMPORTS, pluginEntry, tempStack, wat, watString } from "./_fixtures.ts";
import { tempDir } from "../_helpers.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const LOG = '{"v":1,"op":"log","message":"tick"}';
/**
 * Writes 1 MiB chunks to an output handle without end: host-side bytes that
 * neither Extism's caps nor the V8 heap cap count (only `max_output`, 1 GiB).
 */
const HOARD = `(module ${IMPORTS} (memory (export "memory") 17)
 (data (i32.const 1048576) "${watString(LOG)}")
 (func (export "run") (result i32) (local $h i32) (local $i i32)
  (local.set $h (call $create (i64.const 0)))
  (loop $l
   (drop (call $write (local.get $h) (i32.const 0) (i32.const 1048576)))
   (if (i32.eqz (i32.rem_u (local.get $i) (i32.const 64)))
    (then (drop (call $call (i32.const 1048576) (i32.const ${LOG.length})))))
   (local.set $i (i32.add (local.get $i) (i32.const 1)))
   (br $l))
  (i32.const 0)))`;

/** Loops (calling a host function) until its deadline: a plugin process that stays up. */
const SLOW = `(module ${IMPORTS} (memory (export "memory") 1)
 (data (i32.const 60000) "${watString(LOG)}")
 (func (export "run") (result i32)
  (loop $l (drop (call $call (i32.const 60000) (i32.const ${LOG.length}))) (br $l))
  (i32.const 0)))`;

Deno.test("in-process check alone (no cgroup, no watchdog): output-handle hoarding stops at the grant", async () => {
  const t = await tempDir("flowyml-inproc-");
  const stack = await tempStack(t.path);
  forceLimitMode("in-process");
  try {
    configurePlugins({
      hoard: await pluginEntry(t.path, "hoard", await wat(HOARD), { memory: "16Mi" }),
    });
    const r = await new Pipeline("inproc", { stack, cache: false })
      .add(step({ name: "load", outputs: ["raw"] }, () => new Uint8Array([1])))
      .add(pluginStep("hoard", { name: "plug", inputs: ["raw"], outputs: ["out"] }))
      .run();
    assert.equal(r.status, "failed");
    assert.match(
      r.error!.message,
      /plugin "hoard".*exceeded its memory grant of 16 MiB: its process reached \d+ MiB RSS, over its limit of 128 MiB \(checked by flowyml in the plugin process\)/,
    );
  } finally {
    forceLimitMode(undefined);
    await closePluginHosts();
    await stack.close();
    await t.cleanup();
  }
});

/** A temp project with plugin `name` (module `src`, 16 MiB grant) run by pipeline.ts. */
async function project(name: string, src: string, grants = "{ memory: 16Mi }") {
  const t = await tempDir("flowyml-supervised-");
  const bytes = await wat(src);
  await Deno.writeFile(`${t.path}/${name}.wasm`, bytes);
  await Deno.writeTextFile(
    `${t.path}/flowyml.yaml`,
    `plugins:
  ${name}:
    source: ${t.path}/${name}.wasm
    sha256: ${sha256Hex(bytes)}
    grants: ${grants}
stacks:
  local:
    artifact_store: { type: local, path: ${t.path}/artifacts }
    metadata_store: { type: sqlite, path: ${t.path}/meta.db }
`,
  );
  await Deno.writeTextFile(
    `${t.path}/pipeline.ts`,
    `import { Pipeline, pluginStep, step } from "flowyml";
export default new Pipeline("sup")
  .add(step({ name: "load", outputs: ["raw"] }, () => new Uint8Array([1, 2, 3])))
  .add(pluginStep("${name}", { name: "plug", inputs: ["raw"], outputs: ["out"] }));
`,
  );
  return t;
}

function cli(cwd: string, args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", `${ROOT}deno.json`, `${ROOT}cli/main.ts`, ...args],
    cwd,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function outputOf(child: Deno.ChildProcess) {
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, text: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

const cgroupsHere = () => limitMode() === "cgroup-v1" || limitMode() === "cgroup-v2";

/** Live plugin host processes below `root`. */
function hostsBelow(root: number): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const pid = Number(e.name);
    let cmd = "";
    try {
      cmd = Deno.readTextFileSync(`/proc/${pid}/cmdline`);
    } catch {
      continue;
    }
    if (!cmd.includes("kernel/sandbox/host_process.ts")) continue;
    for (let p = pid, i = 0; p > 1 && i < 16; i++) {
      const s = processStat(p);
      if (!s) break;
      if (s.ppid === root) {
        if (processStat(pid)?.state !== "Z") out.push(pid);
        break;
      }
      p = s.ppid;
    }
  }
  return out;
}

Deno.test({
  name:
    "flowyml run: a hoarding plugin is stopped at its 16 MiB grant in the least-privilege child; no watchdog warning",
  ignore: !cgroupsHere(),
  fn: async () => {
    const t = await project("hoard", HOARD);
    try {
      const run = await outputOf(cli(t.path, ["run", "pipeline.ts", "--no-cache"]));
      assert.equal(run.code, 1, run.text);
      assert.match(run.text, /plugin "hoard".*exceeded its memory grant of 16 MiB/, run.text);
      assert.doesNotMatch(run.text, /cgroups are not writable|watchdog|\/proc is not readable/);
      assert.doesNotMatch(run.text, /limits supervisor could not/);
      // The OS (cgroup at 64 + 16 MiB, set by the supervisor) or the plugin process's own check
      // (128 MiB RSS), whichever comes first.
      assert.match(run.text, /set by the limits supervisor|checked by flowyml in the plugin/);
    } finally {
      await t.cleanup();
    }
  },
});

Deno.test({
  name:
    "flowyml run: the plugin process of the least-privilege child is in a flowyml cgroup with its limit",
  ignore: !cgroupsHere(),
  fn: async () => {
    const t = await project("slow", SLOW, "{ memory: 16Mi, timeout: 4s }");
    try {
      const child = cli(t.path, ["run", "pipeline.ts", "--no-cache", "--show-flags"]);
      const done = outputOf(child);
      let hosts: number[] = [];
      for (let i = 0; i < 150 && !hosts.length; i++) {
        await new Promise((r) => setTimeout(r, 100));
        hosts = hostsBelow(child.pid);
      }
      assert.ok(hosts.length, "no plugin host process appeared");
      // It is confined before it gets its module; give the plugin time to be loaded and running.
      await new Promise((r) => setTimeout(r, 1000));
      const cg = Deno.readTextFileSync(`/proc/${hosts[0]}/cgroup`);
      const mem = /^\d+:memory:(\/flowyml\/\S+)$/m.exec(cg) ?? /^0::(\/flowyml\/\S+)$/m.exec(cg);
      assert.ok(mem, cg);
      if (limitMode() === "cgroup-v1") {
        assert.match(cg, /^\d+:pids:\/flowyml\//m);
        const limit = Number(
          Deno.readTextFileSync(`/sys/fs/cgroup/memory${mem[1]}/memory.limit_in_bytes`),
        );
        // 64 MiB runtime overhead + the 16 MiB grant (+ inputs, a few bytes here)
        assert.ok(limit >= 80 * 2 ** 20 && limit < 81 * 2 ** 20, String(limit));
      }
      const run = await done;
      assert.match(run.text, /exceeded its timeout of 4000 ms/, run.text);
      // The child holds the socket, never /sys or /proc.
      const flags = /^\$ .*$/m.exec(run.text)?.[0] ?? "";
      assert.match(flags, /--allow-net=[^ ]*unix:\/[^ ]*limits/);
      assert.doesNotMatch(flags, /\/sys\/fs\/cgroup|=\/proc/);
      // Nothing is left behind: no host process, no group.
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(hostsBelow(child.pid), []);
      const group = `/sys/fs/cgroup/memory${mem[1]}`;
      assert.ok(!exists(group), `${group} is left behind`);
    } finally {
      await t.cleanup();
    }
  },
});

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name:
    "limits supervisor: refuses a wrong token and a pid that is not a flowyml host process below its child",
  ignore: !cgroupsHere(),
  fn: async () => {
    const t = await tempDir("flowyml-supervisor-");
    const sup = await startLimitsSupervisor(t.path);
    assert.ok(sup);
    const sleeper = new Deno.Command("sleep", { args: ["30"] }).spawn();
    try {
      sup.watch(Deno.pid);
      const bad = new SupervisorClient({ path: sup.path, token: "0".repeat(64) });
      await assert.rejects(
        bad.request({ op: "attach", pid: sleeper.pid, memoryBytes: 64 << 20 }),
        /token|closed/,
      );
      const ok = new SupervisorClient({ path: sup.path, token: sup.token });
      await assert.rejects(
        ok.request({ op: "attach", pid: sleeper.pid, memoryBytes: 64 << 20 }),
        /not a flowyml plugin host process/,
      );
      await assert.rejects(
        ok.request({ op: "attach", pid: Deno.ppid, memoryBytes: 64 << 20 }),
        /not a descendant/,
      );
      assert.equal((Deno.statSync(dirname(sup.path)).mode! & 0o777).toString(8), "700");
    } finally {
      sleeper.kill("SIGKILL");
      await sleeper.status;
      await sup.close();
      await t.cleanup();
    }
  },
});
