/**
 * `flowyml ui [--stack S] [--port 8787] [--host 127.0.0.1] [--allow-actions] [--token T]`:
 * a dashboard of the stack's runs, live DAGs, lineage and plugin audit trail
 * (server in cli/ui/, docs/ui.md).
 * @module
 */
import type { Command } from "commander";
import { ConfigError } from "../../kernel/errors.ts";
import { openStack } from "../_common.ts";
import { startUiServer } from "../ui/server.ts";

interface UiFlags {
  stack?: string;
  port: string;
  host: string;
  allowActions?: boolean;
  token?: string;
}

function envToken(): string | undefined {
  try {
    return Deno.env.get("FLOWYML_UI_TOKEN") || undefined;
  } catch {
    return undefined; // no --allow-env for it: only --token counts
  }
}

/** Register `flowyml ui`. */
export function registerUiCommand(program: Command): void {
  program.command("ui").description(
    "serve a dashboard of runs, live DAGs, lineage and the plugin audit trail",
  )
    .option("-s, --stack <name>", "stack whose metadata and artifact stores to show")
    .option("-p, --port <port>", "port (0 picks a free one)", "8787")
    .option(
      "--host <host>",
      "interface to bind; any other than 127.0.0.1 needs a token",
      "127.0.0.1",
    )
    .option("--allow-actions", "enable resume and retry-from-here (runs `flowyml runs resume`)")
    .option("--token <token>", "access token (default: $FLOWYML_UI_TOKEN)")
    .action(async (flags: UiFlags) => {
      const port = Number(flags.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        throw new ConfigError(`--port must be a port number, got "${flags.port}"`);
      }
      const { config, stack } = await openStack(flags.stack);
      const server = await startUiServer(stack, {
        config,
        host: flags.host,
        port,
        token: flags.token ?? envToken(),
        allowActions: flags.allowActions,
      }).catch(async (err) => {
        await stack.close();
        throw err;
      });
      console.log(
        `flowyml ui: stack "${stack.name}", ${
          flags.allowActions ? "actions enabled" : "read-only"
        }\nopen ${server.url}`,
      );
      const stop = () => server.shutdown();
      Deno.addSignalListener("SIGINT", stop);
      Deno.addSignalListener("SIGTERM", stop);
      await server.finished;
      Deno.removeSignalListener("SIGINT", stop);
      Deno.removeSignalListener("SIGTERM", stop);
      await stack.close();
    });
}
