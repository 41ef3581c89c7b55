/** Test helper: a local stack in a fresh temp folder. */
import {
  LocalArtifactStore,
  LocalExecutor,
  LocalOrchestrator,
  SQLiteMetadataStore,
  Stack,
  step,
  WorkerExecutor,
} from "../../mod.ts";
import { DatabaseSync } from "node:sqlite";
import { tempDir } from "../_helpers.ts";

/**
 * A local stack under a temp dir; `cleanup` closes and removes it. `inlineMaxBytes: 0` keeps
 * every artifact an object in the artifact store (tests of the object store itself); `workers`
 * runs steps on a `WorkerExecutor` with that many threads instead of in process; `busyTimeoutMs`
 * is the SQLite store's wait for a lock.
 */
export async function tempStack(
  options: { inlineMaxBytes?: number; workers?: number; busyTimeoutMs?: number } = {},
): Promise<
  { stack: Stack; dir: string; cleanup: () => Promise<void> }
> {
  const { inlineMaxBytes, workers, busyTimeoutMs } = options;
  const t = await tempDir();
  const stack = new Stack("test", {
    orchestrator: new LocalOrchestrator(),
    executor: workers ? new WorkerExecutor({ workers }) : new LocalExecutor(),
    artifactStore: new LocalArtifactStore({ path: `${t.path}/artifacts` }),
    metadataStore: new SQLiteMetadataStore({
      path: `${t.path}/metadata.db`,
      inlineMaxBytes,
      busyTimeoutMs,
    }),
  });
  return {
    stack,
    dir: t.path,
    cleanup: async () => {
      await stack.close();
      await t.cleanup();
    },
  };
}

/**
 * A {@linkcode tempStack} whose SQLite store gives up waiting for a lock after 20 ms, and a step
 * `hold` that, while `lock.on`, holds that database locked for 150 ms, as another process would
 * (it pushes "hold" onto `ran` each time it runs).
 */
export async function lockedStack() {
  const t = await tempStack({ busyTimeoutMs: 20 });
  const db = `${t.dir}/metadata.db`;
  const lock = { on: true };
  const ran: string[] = [];
  const hold = step({ name: "hold", outputs: ["h"] }, async () => {
    ran.push("hold");
    const other = lock.on ? new DatabaseSync(db) : undefined;
    other?.exec("BEGIN IMMEDIATE");
    await new Promise((r) => setTimeout(r, 150));
    other?.exec("COMMIT");
    other?.close();
    return 1;
  });
  return { ...t, db, lock, ran, hold };
}
