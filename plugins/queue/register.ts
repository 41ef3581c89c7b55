/**
 * Lazy registration of `QueueOrchestrator` (`type: queue`): the config
 * schema loads on first need, `npm:bullmq` loads on first use.
 * Also the `flowyml worker` / `flowyml workers` command hook (./commands.ts).
 * @module
 */
import type { ComponentClass } from "../../kernel/component.ts";
import { type CommandModule, registerCommand } from "../../kernel/commands.ts";
import type { ComponentRegistry } from "../../kernel/registry.ts";

/** Register the queue orchestrator lazily. */
export function register(reg: ComponentRegistry): void {
  registerCommand({
    name: "worker",
    aliases: ["workers"],
    description: "run and inspect queue workers",
    load: async () => await import("./commands.ts") as CommandModule,
  });
  if (reg.entry("orchestrator", "queue")) return;
  reg.registerLazy({
    kind: "orchestrator",
    type: "queue",
    origin: "builtin",
    description: "scale out: steps run on `flowyml worker` processes through BullMQ on Redis",
    loadSchema: async () => (await import("./config.ts")).queueOrchestratorSchema,
    load: async () => (await import("./orchestrator.ts")).QueueOrchestrator as ComponentClass,
  });
}
