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

const exitHooks = new Set<() => void | Promise<void>>();

/**
 * Run `hook` when the program that owns this process finishes (the CLI calls
 * {@linkcode runExitHooks}), e.g. to close processes a part of the kernel
 * started; a part that was never loaded registers nothing and costs nothing.
 */
export function addExitHook(hook: () => void | Promise<void>): () => void {
  exitHooks.add(hook);
  return () => exitHooks.delete(hook);
}

/** Run every exit hook (in registration order), waiting for each. */
export async function runExitHooks(): Promise<void> {
  for (const hook of [...exitHooks]) await hook();
}
