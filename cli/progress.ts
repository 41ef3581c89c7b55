/**
 * Live progress of a run: a redrawn table of steps in a terminal, plain
 * lines otherwise (CI logs, pipes).
 * @module
 */
import type { RunEvent } from "../kernel/contracts.ts";
import { ms } from "./_common.ts";
import { safeText } from "../kernel/display.ts";

const ICON: Record<string, string> = {
  pending: "·",
  running: "▶",
  completed: "✓",
  cached: "↺",
  failed: "✗",
  skipped: "–",
};

/** Options of {@linkcode createProgress}. */
export interface ProgressOptions {
  /** Force TTY mode on or off (default: stdout is a terminal). */
  tty?: boolean;
  write?: (text: string) => void;
}

/** Returns an `onEvent` handler that renders progress. */
export function createProgress(options: ProgressOptions = {}): (e: RunEvent) => void {
  const enc = new TextEncoder();
  const write = options.write ?? ((t: string) => Deno.stdout.writeSync(enc.encode(t)));
  const tty = options.tty ?? Deno.stdout.isTerminal();
  const steps: string[] = [];
  const state = new Map<
    string,
    { status: string; started?: number; took?: number; note?: string }
  >();
  let drawn = 0;
  let timer: ReturnType<typeof setInterval> | undefined;

  const draw = () => {
    const now = performance.now();
    const lines = steps.map((s) => {
      const st = state.get(s)!;
      const t = st.took !== undefined ? ms(st.took) : st.started ? ms(now - st.started) : "";
      return `  ${ICON[st.status] ?? "?"} ${s.padEnd(24)} ${st.status.padEnd(9)} ${t}${
        st.note ? `  ${st.note}` : ""
      }`;
    });
    write((drawn ? `\x1b[${drawn}A` : "") + lines.map((l) => `\x1b[2K${l}\n`).join(""));
    drawn = lines.length;
  };

  return (e: RunEvent) => {
    switch (e.type) {
      case "run_started":
        steps.push(...e.steps);
        for (const s of e.steps) state.set(s, { status: "pending" });
        write(`run ${e.runId} (${e.pipeline}, ${e.steps.length} steps)\n`);
        if (tty) {
          draw();
          const t = setInterval(draw, 200);
          Deno.unrefTimer(t as unknown as number);
          timer = t;
        }
        return;
      case "step_started":
        state.set(e.step, {
          status: "running",
          started: performance.now(),
          note: e.attempt > 1 ? `attempt ${e.attempt}` : "",
        });
        if (!tty) write(`  ▶ ${e.step} started${e.attempt > 1 ? ` (attempt ${e.attempt})` : ""}\n`);
        break;
      case "step_retry":
        if (!tty) {
          write(`  ! ${e.step} attempt ${e.attempt} failed: ${safeText(e.error)}; retrying\n`);
        }
        break;
      case "step_finished": {
        state.set(e.step, { status: e.status, took: e.durationMs });
        if (!tty) write(`  ${ICON[e.status]} ${e.step} ${e.status} (${ms(e.durationMs)})\n`);
        break;
      }
      case "step_log": {
        // Log lines may come from a plugin: escape control characters (no cursor moves, no
        // rewritten lines, no OSC titles or bidi tricks).
        const line = `  [${safeText(e.step)}] ${safeText(e.message)}\n`;
        if (tty) {
          write(`\x1b[${drawn}A\x1b[J${line}`);
          drawn = 0;
        } else write(line);
        break;
      }
      case "run_finished":
        if (timer !== undefined) clearInterval(timer);
        if (tty) draw();
        return;
    }
    if (tty) draw();
  };
}
