/**
 * The run and step the current async work serves. The step runner sets it
 * around each step attempt, so components called from inside a step (a
 * `type: wasm` artifact store, for one) can write their audit trail under
 * the run and step they served, without a context argument on every
 * store method.
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { StackLike } from "./contracts.ts";

/** What {@linkcode currentRunContext} returns. */
export interface RunContext {
  /** The run being executed. */
  runId: string;
  /** The step attempt being executed, when inside one. */
  step?: string;
  /** The run's stack (its metadata store receives the audit trail). */
  stack?: StackLike;
}

const storage = new AsyncLocalStorage<RunContext>();

/** Run `fn` with `ctx` as the current run context (for everything it awaits, too). */
export function withRunContext<T>(ctx: RunContext, fn: () => T): T {
  return storage.run(ctx, fn);
}

/** The run context of the calling async work, if any. */
export function currentRunContext(): RunContext | undefined {
  return storage.getStore();
}
