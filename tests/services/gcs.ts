/**
 * A real GCS JSON API server for the test suite: firebase-tools 15's Node
 * storage emulator, loaded as a library by `gcs_emulator.cjs` (see that file
 * for the three patches). firebase-tools is installed outside the repo by
 * `.ci/install_services.sh` (default /opt/flowyml-cache/firebase-tools,
 * override with FLOWYML_FIREBASE_DIR).
 *
 * ```ts ignore
 * const gcs = await startGcs();
 * // new Storage({ apiEndpoint: gcs.endpoint, projectId: gcs.projectId })
 * await gcs.stop();
 * ```
 * @module
 */
import { freePort, hasBinary, stopChild } from "../_helpers.ts";

/** Where firebase-tools is installed. */
export function firebaseDir(): string {
  return Deno.env.get("FLOWYML_FIREBASE_DIR") ?? "/opt/flowyml-cache/firebase-tools";
}

/** True when node and the cached firebase-tools are present. */
export function gcsAvailable(): boolean {
  if (!hasBinary("node")) return false;
  try {
    return Deno.statSync(
      `${firebaseDir()}/node_modules/firebase-tools/lib/emulator/storage/index.js`,
    )
      .isFile;
  } catch {
    return false;
  }
}

/** How to get it, for skip messages. */
export const GCS_HOW = "bash .ci/install_services.sh installs firebase-tools into " +
  "/opt/flowyml-cache/firebase-tools (needs node and npm)";

/** A running GCS emulator. */
export interface GcsServer {
  /** `http://127.0.0.1:PORT` (the `apiEndpoint`). */
  endpoint: string;
  port: number;
  projectId: string;
  pid: number;
  stop(): Promise<void>;
}

/** Start the emulator on a free port (about 1–2 s). */
export async function startGcs(options: { projectId?: string } = {}): Promise<GcsServer> {
  const port = freePort();
  const projectId = options.projectId ?? "flowyml-test";
  const tmp = await Deno.makeTempDir({ prefix: "flowyml-gcs-" });
  const script = new URL("./gcs_emulator.cjs", import.meta.url).pathname;
  const child = new Deno.Command("node", {
    args: [script, firebaseDir(), String(port), projectId],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    // The emulator keeps blobs under os.tmpdir(): give it a folder of its own.
    env: { TMPDIR: tmp, FIREBASE_CLI_DISABLE_UPDATE_CHECK: "1", CI: "true" },
  }).spawn();
  let errText = "";
  const errDone = (async () => {
    for await (const c of child.stderr.pipeThrough(new TextDecoderStream())) {
      errText = (errText + c).slice(-4000);
    }
  })();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  const deadline = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, 30_000);
  try {
    while (!out.includes("READY")) {
      const r = await reader.read();
      if (r.done) break;
      out += r.value;
    }
  } finally {
    clearTimeout(deadline);
  }
  // Keep draining stdout so the emulator never blocks on a full pipe.
  (async () => {
    while (!(await reader.read()).done) { /* discard */ }
  })().catch(() => {});
  const stop = async () => {
    await stopChild(child);
    await errDone.catch(() => {});
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  };
  if (!out.includes("READY")) {
    await stop();
    throw new Error(`GCS emulator did not start: ${errText || out}`);
  }
  return { endpoint: `http://127.0.0.1:${port}`, port, projectId, pid: child.pid, stop };
}
