/**
 * Lazy registration of `QueueOrchestrator` (`type: queue`): the config
 * schema loads on first need, `npm:bullmq` loads on first use.
 * Also the `flowyml worker` / `flowyml workers` command hook (./commands.ts).
 * @module
 */
import type { ComponentClass } from "../../kernel/component.ts";
import { type CommandModule, registerCommand } from "../../kernel/commands.ts";
import type { ComponentRegistry } from "../../kernel/registry.ts";
import { lazyImport } from "../../kernel/lazy_import.ts";

/** Register the queue orchestrator lazily. */
export function register(reg: ComponentRegistry): void {
  registerCommand({
    name: "worker",
    aliases: ["workers"],
    description: "run and inspect queue workers",
    load: async () =>
      await lazyImport<typeof import("./commands.ts")>(
        new URL("./commands.ts", import.meta.url),
      ) as CommandModule,
  });
  if (reg.entry("orchestrator", "queue")) return;
  reg.registerLazy({
    kind: "orchestrator",
    type: "queue",
    origin: "builtin",
    description: "scale out: steps run on `flowyml worker` processes through BullMQ on Redis",
    loadSchema: async () =>
      (await lazyImport<typeof import("./config.ts")>(new URL("./config.ts", import.meta.url)))
        .queueOrchestratorSchema,
    load: async () =>
      (await lazyImport<typeof import("./orchestrator.ts")>(
        new URL("./orchestrator.ts", import.meta.url),
      )).QueueOrchestrator as ComponentClass,
  });
}
