/**
 * `LocalExecutor` (`type: local`): runs a step's function in the current process.
 * @module
 */
import { Executor } from "../../kernel/contracts.ts";
import type { Step, StepContext } from "../../kernel/step.ts";
import { localExecutorSchema } from "./config.ts";

/** Runs steps in-process. */
export class LocalExecutor extends Executor {
  /** Registry type: `type: local` in `flowyml.yaml`. */
  static readonly type = "local";
  /** Validates the `executor:` options of a stack (only `name`). */
  static readonly configSchema: typeof localExecutorSchema = localExecutorSchema;

  /** An executor named `options.name` (default `local`). */
  constructor(options: { name?: string } = {}) {
    super(options.name ?? "local");
  }

  /** Calls `step.fn` directly in this process and awaits its result. */
  override async executeStep(
    step: Step,
    inputs: Record<string, unknown>,
    ctx: StepContext,
  ): Promise<unknown> {
    return await step.fn(inputs, ctx);
  }

  /** `{ type: "local" }`. */
  override toDict(): Record<string, unknown> {
    return { type: "local" };
  }
}
