/**
 * Log op: `log`, always allowed. The line goes to the step log, capped,
 * redacted and made safe by the call's audit trail (broker_audit.ts).
 * @module
 */
import { z } from "zod";
import { defineOp, optStr, str } from "./types.ts";

/** `log`: appends `message` to the step log; the audit row names its level. */
export const log = defineOp({
  name: "log",
  schema: z.object({ message: str, level: optStr }),
  grant: "always",
  handle(q, env) {
    env.trail.log(q.message.slice(0, 10_000));
    return { resource: q.level ?? "info" };
  },
});
