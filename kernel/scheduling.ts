/**
 * External step scheduling: a {@linkcode StepScheduler} decides which ready
 * step of a run starts next, while the run engine keeps executing, caching,
 * retrying and recording each step exactly as it does on its own. The engine
 * hands the scheduler a {@linkcode RunControl}: submit a ready step, wait for
 * a submitted one, read the status of any step.
 *
 * ```ts ignore
 * const fifo: StepScheduler = {
 *   name: "fifo",
 *   async run(ctl) {
 *     for (const s of ctl.steps) await ctl.wait(ctl.submit(s.name).ticket);
 *   },
 * };
 * await executeRun(pipeline, { ...options, scheduler: fifo });
 * ```
 * @module
 */
import type { ResourceConfig } from "./component.ts";
import type { StepResult } from "./contracts.ts";
import { FlowymlError } from "./errors.ts";
import type { PipelineGraph } from "./graph.ts";
import type { Step } from "./step.ts";

/** Status of a step as a scheduler sees it. */
export type ScheduleStatus =
  | "pending"
  | "ready"
  | "queued"
  | "running"
  | "completed"
  | "cached"
  | "failed"
  | "skipped";

/** What a scheduler learns about one step: its wiring and resources, never param values. */
export interface ScheduledStep {
  /** Step name, unique within the pipeline. */
  name: string;
  /** Artifact names it consumes. */
  inputs: string[];
  /** Artifact names it produces. */
  outputs: string[];
  /** Steps that must complete before it can be submitted. */
  upstream: string[];
  /** Resources it asks for (`cpu`, `memory`, `gpu`, `labels`). */
  resources: ResourceConfig;
  /** Its resource labels (`resources.labels`), e.g. `priority=3`. */
  labels: string[];
}

/** The status of one step, as returned by {@linkcode RunControl.status} and `wait`. */
export interface ScheduledStepState {
  /** Step name. */
  step: string;
  /** Current status. */
  status: ScheduleStatus;
  /** True once the step reached a final status (completed, cached, failed, skipped). */
  done: boolean;
  /** Ticket of the step, once submitted. */
  ticket?: string;
  /** Failure message of a failed step. */
  error?: string;
}

/** Why a scheduling request was refused. */
export class SchedulingError extends FlowymlError {
  /** `not_found` (unknown step or ticket) or `conflict` (not ready, already submitted, closed). */
  readonly code: "not_found" | "conflict";
  /** `code` tells callers how to report it; the message says what was wrong. */
  constructor(code: "not_found" | "conflict", message: string) {
    super(message);
    this.name = "SchedulingError";
    this.code = code;
  }
}

/** What a scheduler can do with the run it drives. */
export interface RunControl {
  /** Id of the run. */
  readonly runId: string;
  /** The steps of the run, in a valid execution order. */
  readonly steps: readonly ScheduledStep[];
  /** Max steps the engine runs at once; further submissions are queued. */
  readonly concurrency: number;
  /** Start a ready step (all upstream completed); throws {@linkcode SchedulingError} otherwise. */
  submit(step: string): { ticket: string; status: ScheduleStatus };
  /** Wait until a submitted step finishes, or `timeoutMs` passes, or `signal` aborts. */
  wait(
    ticket: string,
    options?: { timeoutMs?: number; signal?: AbortSignal },
  ): Promise<ScheduledStepState>;
  /** The status of one step, or of every step. */
  status(step?: string): ScheduledStepState[];
}

/** Decides which step of a run starts when (e.g. a sandboxed WASM plugin). */
export interface StepScheduler {
  /** Who decides, named in error messages, e.g. `plugin "priority_scheduler"`. */
  readonly name: string;
  /** Drive the run; once this settles, steps never submitted are skipped and the run fails. */
  run(control: RunControl): Promise<void>;
}

/** The engine's state a gate reads (the engine owns and updates it). */
export interface GateView {
  runId: string;
  graph: PipelineGraph;
  concurrency: number;
  state: Map<string, "waiting" | "running" | "done" | "failed" | "skipped">;
  missing: Map<string, number>;
  results: Record<string, StepResult>;
  /** Ask the engine to start queued steps (and to notice the scheduler ended). */
  pump: () => void;
}

const FINAL = new Set<ScheduleStatus>(["completed", "cached", "failed", "skipped"]);

/**
 * The engine's side of external scheduling: submitted steps wait in `queue`
 * (submission order) until the engine has a free slot. Internal to the engine.
 */
export class ScheduleGate implements RunControl {
  /** Submitted steps not started yet, in submission order. */
  readonly queue: Step[] = [];
  /** Set once the scheduler settled: no more submissions. */
  closed = false;
  /** Why the scheduler failed, if it did. */
  error?: unknown;
  readonly runId: string;
  readonly steps: readonly ScheduledStep[];
  readonly concurrency: number;
  #v: GateView;
  #tickets = new Map<string, string>(); // ticket -> step
  #ticketOf = new Map<string, string>(); // step -> ticket
  #waiters = new Map<string, Set<() => void>>();

  constructor(view: GateView) {
    this.#v = view;
    this.runId = view.runId;
    this.concurrency = view.concurrency;
    this.steps = view.graph.order.map((s) => ({
      name: s.name,
      inputs: [...s.inputs],
      outputs: [...s.outputs],
      upstream: [...view.graph.upstream.get(s.name)!],
      resources: { ...(s.options.resources ?? {}) },
      labels: [...(s.options.resources?.labels ?? [])],
    }));
  }

  /** Run `scheduler`; when it settles, close the gate (dropping queued steps if it failed). */
  start(scheduler: StepScheduler): void {
    Promise.resolve().then(() => scheduler.run(this)).catch((err) => {
      this.error = err ?? new Error("scheduler failed");
      this.queue.length = 0;
    }).finally(() => {
      this.closed = true;
      this.#v.pump();
    });
  }

  submit(step: string): { ticket: string; status: ScheduleStatus } {
    const v = this.#v;
    if (this.closed) throw new SchedulingError("conflict", "the run is no longer scheduling");
    const st = v.state.get(step);
    if (!st) throw new SchedulingError("not_found", `no step "${step}" in this run`);
    const had = this.#ticketOf.get(step);
    if (had) throw new SchedulingError("conflict", `already submitted (ticket ${had})`);
    if (st !== "waiting") throw new SchedulingError("conflict", `cannot be submitted: it is ${st}`);
    if (v.missing.get(step)! > 0) {
      const waiting = v.graph.upstream.get(step)!.filter((u) => v.state.get(u) !== "done");
      throw new SchedulingError(
        "conflict",
        `not ready: upstream ${waiting.map((u) => `"${u}"`).join(", ")} not completed`,
      );
    }
    const ticket = `t${this.#tickets.size + 1}`;
    this.#tickets.set(ticket, step);
    this.#ticketOf.set(step, ticket);
    this.queue.push(v.graph.order.find((s) => s.name === step)!);
    v.pump();
    return { ticket, status: this.#state(step).status };
  }

  async wait(
    ticket: string,
    options: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<ScheduledStepState> {
    const step = this.#tickets.get(ticket);
    if (!step) throw new SchedulingError("not_found", `no ticket "${ticket}" in this run`);
    if (!this.#state(step).done) {
      await new Promise<void>((resolve) => {
        const set = this.#waiters.get(step) ?? new Set();
        this.#waiters.set(step, set);
        let timer: ReturnType<typeof setTimeout> | undefined;
        const done = () => {
          clearTimeout(timer);
          set.delete(done);
          options.signal?.removeEventListener("abort", done);
          resolve();
        };
        set.add(done);
        if (options.timeoutMs !== undefined) timer = setTimeout(done, options.timeoutMs);
        options.signal?.addEventListener("abort", done);
        if (options.signal?.aborted) done();
      });
    }
    return this.#state(step);
  }

  status(step?: string): ScheduledStepState[] {
    if (step === undefined) return this.steps.map((s) => this.#state(s.name));
    if (!this.#v.state.has(step)) {
      throw new SchedulingError("not_found", `no step "${step}" in this run`);
    }
    return [this.#state(step)];
  }

  /** The engine calls this when `step` reached a final state. */
  finished(step: string): void {
    for (const w of [...(this.#waiters.get(step) ?? [])]) w();
  }

  /** Steps the scheduler never submitted (still waiting once it returned). */
  leftOut(): string[] {
    return this.steps.map((s) => s.name).filter((n) => this.#v.state.get(n) === "waiting");
  }

  #state(step: string): ScheduledStepState {
    const v = this.#v;
    const st = v.state.get(step)!;
    const ticket = this.#ticketOf.get(step);
    let status: ScheduleStatus;
    if (st === "waiting") {
      status = ticket ? "queued" : v.missing.get(step) === 0 ? "ready" : "pending";
    } else if (st === "done") {
      status = v.results[step]?.status === "cached" ? "cached" : "completed";
    } else status = st;
    const error = v.results[step]?.error;
    return {
      step,
      status,
      done: FINAL.has(status),
      ...(ticket ? { ticket } : {}),
      ...(error ? { error } : {}),
    };
  }
}
