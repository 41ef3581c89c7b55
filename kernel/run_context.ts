/**
 * The run and step the current async work serves. The step runner sets it
 * around each step attempt, so components called from inside a step (a
 * `type: wasm` artifact store, for one) can write their audit trail under
 * the run and step they served, without a context argument on every
 * store method.
 *
 * Carrying a context through every `await` has a price on every promise a
 * step settles (≈ 15 ms of CPU per 1,000 queue steps in the driver), so it is
 * off until a component that reads it asks for it with
 * {@linkcode useRunContext}, e.g. in its constructor.
 * @module
 */
import type { AsyncLocalStorage } from "node:async_hooks";
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

let storage: AsyncLocalStorage<RunContext> | undefined;

/**
 * Turn the run context on for this process (idempotent): from now on every
 * {@linkcode withRunContext} carries it. A component that reads
 * {@linkcode currentRunContext} calls this when it is built, before its runs.
 */
export function useRunContext(): void {
  if (storage) return;
  const proc = (globalThis as {
    process?: { getBuiltinModule?: (id: string) => typeof import("node:async_hooks") | undefined };
  }).process;
  const hooks = proc?.getBuiltinModule?.("node:async_hooks");
  if (!hooks) throw new Error("the run context needs node:async_hooks (Deno 2 has it)");
  storage = new hooks.AsyncLocalStorage<RunContext>();
}

/** Run `fn` with `ctx` as the current run context (for everything it awaits, too), when on. */
export function withRunContext<T>(ctx: RunContext, fn: () => T): T {
  return storage ? storage.run(ctx, fn) : fn();
}

/** The run context of the calling async work, if any (always none until it is turned on). */
export function currentRunContext(): RunContext | undefined {
  return storage?.getStore();
}
