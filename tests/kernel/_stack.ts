/** Test helper: a local stack in a fresh temp folder. */
import {
  LocalArtifactStore,
  LocalExecutor,
  LocalOrchestrator,
  SQLiteMetadataStore,
  Stack,
  WorkerExecutor,
} from "../../mod.ts";
import { tempDir } from "../_helpers.ts";

/**
 * A local stack under a temp dir; `cleanup` closes and removes it. `inlineMaxBytes: 0` keeps
 * every artifact an object in the artifact store (tests of the object store itself); `workers`
 * runs steps on a `WorkerExecutor` with that many threads instead of in process.
 */
export async function tempStack(
  options: { inlineMaxBytes?: number; workers?: number } = {},
): Promise<
  { stack: Stack; dir: string; cleanup: () => Promise<void> }
> {
  const { inlineMaxBytes, workers } = options;
  const t = await tempDir();
  const stack = new Stack("test", {
    orchestrator: new LocalOrchestrator(),
    executor: workers ? new WorkerExecutor({ workers }) : new LocalExecutor(),
    artifactStore: new LocalArtifactStore({ path: `${t.path}/artifacts` }),
    metadataStore: new SQLiteMetadataStore({ path: `${t.path}/metadata.db`, inlineMaxBytes }),
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
