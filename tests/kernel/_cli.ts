/** Test helper: run the flowyml CLI as a user would, in a project folder outside the repo. */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;
/** The repo's deno.json (maps `flowyml` to mod.ts for the test projects). */
export const CONFIG = `${ROOT}deno.json`;
/** The CLI entry point. */
export const MAIN = `${ROOT}cli/main.ts`;

/** `deno run -A --config … cli/main.ts …args` in `cwd`, waited for. */
export async function flowyml(cwd: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", CONFIG, MAIN, ...args],
    cwd,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** The CLI started in the background, with its stdout read line by line. */
export function spawnFlowyml(cwd: string, args: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", CONFIG, MAIN, ...args],
    cwd,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  let err = "";
  const waiters: { re: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
  const pump = async (stream: ReadableStream<Uint8Array>, onText: (t: string) => void) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      onText(chunk);
      for (const w of [...waiters]) {
        const m = w.re.exec(out);
        if (m) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(m);
        }
      }
    }
  };
  const done = Promise.all([
    pump(child.stdout, (t) => (out += t)),
    pump(child.stderr, (t) => (err += t)),
  ]);
  return {
    child,
    /** Resolves when stdout matches `re` (rejects if the process ends first). */
    waitFor(re: RegExp): Promise<RegExpExecArray> {
      const m = re.exec(out);
      if (m) return Promise.resolve(m);
      return new Promise((resolve, reject) => {
        waiters.push({ re, resolve });
        done.then(() => reject(new Error(`process ended without printing ${re}:\n${out}\n${err}`)));
      });
    },
    /** Waits for the exit; returns the code and all output. */
    async finish() {
      const status = await child.status;
      await done;
      return { code: status.code, signal: status.signal, stdout: out, stderr: err };
    },
  };
}

/** `runs show <id> --json`, parsed. */
export async function showRun(cwd: string, runId: string, env: Record<string, string> = {}) {
  const r = await flowyml(cwd, ["runs", "show", runId, "--json"], env);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as {
    run: { status: string; error?: string; pid?: number; host?: string; cache?: boolean };
    steps: { step: string; status: string; cached: boolean; error?: string }[];
  };
}

/** Whether process `pid` still runs on this host (a zombie does not). */
export function pidRunning(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}
