/**
 * The options of `flowyml run`, declared once: cli/commands/run.ts builds
 * commander's `run` command from {@linkcode RUN_OPTIONS}, and
 * {@linkcode parseRunArgs} reads the plain forms of the same table without
 * loading commander (≈ 20 ms of every `flowyml run`: a CommonJS package and
 * five `node:` modules). Anything it does not read exactly as commander
 * would (`--help`, an unknown or misspelt option, grouped short flags, a
 * missing value, `--`) it leaves to commander, which prints the usual help and
 * errors; `tests/cli_run_options_test.ts` checks both parse alike.
 *
 * The action {@linkcode runAction} is here too, so the fast path and the
 * commander command run the same code.
 * @module
 */
import { checkPipelineFile } from "./_pipeline_file.ts";
import { lazyImport } from "../kernel/lazy_import.ts";
import type { RunFlags } from "./_run_here.ts";

/** One option of `flowyml run`, in commander's flag syntax. */
export interface RunOption {
  /** Commander's flags, e.g. `-s, --stack <name>`, `--no-cache`, `--quiet`. */
  flags: string;
  description: string;
  /** Repeatable: each use adds a value to a list (default `[]`). */
  repeat?: boolean;
  /** Internal (passed by flowyml itself): hidden from `--help`. */
  hidden?: boolean;
}

/** Every option of `flowyml run`. */
export const RUN_OPTIONS: readonly RunOption[] = [
  {
    flags: "-s, --stack <name>",
    description: "stack from flowyml.yaml (default: default_stack, else local)",
  },
  {
    flags: "-p, --param <k=v>",
    description: "run parameter; repeatable; values parse as JSON when they can",
    repeat: true,
  },
  { flags: "--no-cache", description: "ignore the step cache for this run" },
  { flags: "-c, --concurrency <n>", description: "max steps running at once" },
  { flags: "-q, --quiet", description: "no live progress" },
  { flags: "--json", description: "print the result as JSON" },
  {
    flags: "--inherit-permissions",
    description: "run in this process with its permissions, not in a least-privilege child",
  },
  {
    flags: "-g, --grant <kind=resource>",
    description: "extra permission for the child, e.g. env=TOKEN; repeatable",
    repeat: true,
  },
  { flags: "--show-flags", description: "print the child's `deno run` command before running it" },
  {
    flags: "--verified-plugins",
    description: "internal: the parent already verified the plugins",
    hidden: true,
  },
  {
    flags: "--run-lock <path>",
    description: "internal: the frozen Deno lockfile the child runs under",
    hidden: true,
  },
  {
    flags: "--json-marker <line>",
    description: "internal: the line printed before the JSON result",
    hidden: true,
  },
];

/** An option's parts: short and long name, the flags key, and whether it takes a value. */
interface Parsed {
  short?: string;
  long: string;
  key: string;
  valued: boolean;
  negate: boolean;
  repeat: boolean;
}

function parts(option: RunOption): Parsed {
  const m = /^(?:-(\w), )?--([\w-]+)( <[^>]+>)?$/.exec(option.flags);
  if (!m) throw new Error(`cli/run_options.ts: unsupported flags "${option.flags}"`);
  const negate = m[2].startsWith("no-");
  const name = negate ? m[2].slice(3) : m[2];
  return {
    short: m[1],
    long: m[2],
    key: name.replace(/-(\w)/g, (_, c: string) => c.toUpperCase()),
    valued: !!m[3],
    negate,
    repeat: !!option.repeat,
  };
}

const TABLE = RUN_OPTIONS.map(parts);

/** The flags of a `run` with no options, as commander gives them. */
function defaults(): RunFlags {
  const flags: Record<string, unknown> = {};
  for (const p of TABLE) {
    if (p.negate) flags[p.key] = true;
    if (p.repeat) flags[p.key] = [];
  }
  return flags as unknown as RunFlags;
}

/** Find the option `arg` names (`--stack`, `--stack=x`, `-s`), with an inline value if any. */
function lookup(arg: string): { option: Parsed; inline?: string } | undefined {
  if (arg.startsWith("--")) {
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const option = TABLE.find((p) => p.long === name);
    if (!option || (eq >= 0 && !option.valued)) return undefined;
    return { option, inline: eq < 0 ? undefined : arg.slice(eq + 1) };
  }
  const option = arg.length === 2 ? TABLE.find((p) => p.short === arg[1]) : undefined;
  return option && { option };
}

/**
 * Read `args` (after `run`) as commander would: the pipeline and its flags,
 * or `undefined` when they need commander (help, an error, a form this
 * reader does not take).
 */
export function parseRunArgs(
  args: readonly string[],
): { file: string; flags: RunFlags } | undefined {
  const flags = defaults() as unknown as Record<string, unknown>;
  let file: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith("-") || arg === "-") {
      if (file !== undefined) return undefined; // commander: "too many arguments"
      file = arg;
      continue;
    }
    const found = lookup(arg);
    if (!found) return undefined;
    const { option, inline } = found;
    let value: unknown = !option.negate;
    if (option.valued) {
      value = inline ?? args[++i];
      if (value === undefined || (inline === undefined && String(value).startsWith("-"))) {
        return undefined; // a missing value: commander's error
      }
    }
    flags[option.key] = option.repeat ? [...flags[option.key] as string[], value] : value;
  }
  return file === undefined ? undefined : { file, flags: flags as unknown as RunFlags };
}

/** What `flowyml run <file>` does once its options are read (both parsers call it). */
export async function runAction(file: string, flags: RunFlags): Promise<void> {
  await checkPipelineFile(file); // before any integrity check tries to fetch it
  if (!flags.inheritPermissions) {
    // The launcher (planner, lockfile, limits supervisor) only for the child mode.
    const launcher = await lazyImport<typeof import("./launcher.ts")>(
      new URL("./launcher.ts", import.meta.url),
    );
    if (await launcher.launchRun(file, flags)) return;
    // This process may not start deno: the flags it was started with are the
    // boundary (they cannot be widened from here), so run in this process.
    if (!flags.quiet && !flags.json) console.error(launcher.inProcessNote());
  }
  // flowyml's API and the run loop are loaded only to run here.
  await (await import("./_run_here.ts")).runHere(file, flags);
}
