/**
 * `LocalExecutor` (`type: local`): runs a step's function in the current process.
 * @module
 */
import { z } from "zod";
import { Executor } from "../../kernel/contracts.ts";
import type { Step, StepContext } from "../../kernel/step.ts";

/** Runs steps in-process. */
export class LocalExecutor extends Executor {
  static readonly type = "local";
  static readonly configSchema = z.object({ name: z.string().optional() }).strict();

  constructor(options: { name?: string } = {}) {
    super(options.name ?? "local");
  }

  override async executeStep(
    step: Step,
    inputs: Record<string, unknown>,
    ctx: StepContext,
  ): Promise<unknown> {
    return await step.fn(inputs, ctx);
  }

  override toDict(): Record<string, unknown> {
    return { type: "local" };
  }
}
