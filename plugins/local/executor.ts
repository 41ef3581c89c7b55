/**
 * `LocalExecutor` (`type: local`): runs a step's function in the current process.
 * @module
 */
import { Executor } from "../../kernel/contracts.ts";
import type { Step, StepContext } from "../../kernel/step.ts";
import type { localExecutorSchema } from "./config.ts";

/** Runs steps in-process. */
export class LocalExecutor extends Executor {
  /** Registry type: `type: local` in `flowyml.yaml`. */
  static readonly type = "local";
  /** Loads the schema validating the `executor:` options of a stack (only `name`; zod, on first need). */
  static loadConfigSchema = async (): Promise<typeof localExecutorSchema> =>
    (await import("./config.ts")).localExecutorSchema;

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
