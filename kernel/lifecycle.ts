/**
 * Run lifecycle hooks: parts of the kernel that hold process-wide resources
 * (such as the WASM plugin host workers, which keep the process alive) learn
 * when runs start and finish, without the engine importing them.
 * @module
 */

/** Callbacks for run start and end in this process. */
export interface RunListener {
  /** A run started in this process. */
  started?(runId: string): void;
  /** A run finished in this process; the engine waits for the returned promise. */
  finished?(runId: string): void | Promise<void>;
}

const listeners = new Set<RunListener>();

/** Listen to runs starting and finishing in this process; returns an unsubscribe function. */
export function addRunListener(listener: RunListener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Called by the engine when a run starts. */
export function notifyRunStarted(runId: string): void {
  for (const l of listeners) l.started?.(runId);
}

/** Called by the engine when a run has finished; waits for every listener. */
export async function notifyRunFinished(runId: string): Promise<void> {
  for (const l of listeners) await l.finished?.(runId);
}
