/**
 * External step scheduling: a {@linkcode StepScheduler} decides which ready
 * step of a run starts next, while the run engine keeps executing, caching,
 * retrying and recording each step exactly as it does on its own. The engine
 * hands the scheduler a {@linkcode RunControl}: submit a ready step, wait for
 * a submitted one, read the status of any step. The default order (ready
 * steps in graph order) is a {@linkcode StepOrder} too, so the engine has one
 * scheduling path.
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

/**
 * Where the engine takes the next step to start: the one scheduling path.
 * The engine tells the order what happened (a step became ready, started,
 * finished) and asks it for the next step whenever a slot is free; the order
 * never reads the engine's state. {@linkcode GraphOrder} (the default: ready
 * steps in graph order) and {@linkcode ScheduleGate} (an external
 * {@linkcode StepScheduler}) are the two implementations. Internal to the engine.
 */
export interface StepOrder {
  /** Start deciding; `wake` asks the engine to take steps again. */
  start(wake: () => void): void;
  /** `step` became ready: every upstream step completed. */
  ready(step: Step): void;
  /** The engine started `step`. */
  started(step: string): void;
  /** `step` reached a final status. */
  finished(step: string, result: StepResult): void;
  /** The next step to start now, if any. */
  next(): Step | undefined;
  /** True while more steps may come though none is offered now (a scheduler still deciding). */
  readonly pending: boolean;
  /**
   * Once the run went idle with `waiting` steps never started: why they are
   * skipped, and the run's error (`replaces`: it wins over a step failure).
   */
  leftOut(waiting: string[]): { reason: string; error?: Error; replaces?: boolean } | undefined;
}

/** The default order: ready steps start in graph order (the order `buildGraph` gives). */
export class GraphOrder implements StepOrder {
  readonly pending = false;
  #index: Map<string, number>;
  #ready: Step[] = [];

  /** Ready steps are kept sorted by their position in `graph.order`. */
  constructor(graph: PipelineGraph) {
    this.#index = new Map(graph.order.map((s, i) => [s.name, i]));
  }

  start(): void {}

  ready(s: Step): void {
    const i = this.#index.get(s.name)!;
    const ready = this.#ready;
    let lo = 0, hi = ready.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#index.get(ready[mid].name)! < i) lo = mid + 1;
      else hi = mid;
    }
    ready.splice(lo, 0, s);
  }

  started(): void {}

  finished(): void {}

  next(): Step | undefined {
    return this.#ready.shift();
  }

  leftOut(): undefined {
    return undefined;
  }
}

const FINAL = new Set<ScheduleStatus>(["completed", "cached", "failed", "skipped"]);

/** A final step result as a scheduler sees it (a cancelled step counts as failed). */
function finalStatus(r: StepResult): ScheduleStatus {
  if (r.status === "completed" || r.status === "cached" || r.status === "skipped") return r.status;
  return "failed";
}

/**
 * External scheduling: a {@linkcode StepScheduler} submits ready steps, which
 * wait (in submission order) until the engine has a free slot. The gate keeps
 * its own view of every step from what the engine tells it.
 */
export class ScheduleGate implements StepOrder, RunControl {
  readonly runId: string;
  readonly steps: readonly ScheduledStep[];
  readonly concurrency: number;
  #scheduler: StepScheduler;
  #byName: Map<string, Step>;
  #status = new Map<string, ScheduleStatus>();
  #errors = new Map<string, string>();
  #queue: Step[] = [];
  #closed = false;
  #failed = false;
  #error?: unknown;
  #tickets = new Map<string, string>(); // ticket -> step
  #ticketOf = new Map<string, string>(); // step -> ticket
  #waiters = new Map<string, Set<() => void>>();
  #wake = () => {};

  /** A gate for run `runId` of `graph`, driven by `scheduler`. */
  constructor(
    scheduler: StepScheduler,
    options: { runId: string; graph: PipelineGraph; concurrency: number },
  ) {
    const { graph } = options;
    this.#scheduler = scheduler;
    this.runId = options.runId;
    this.concurrency = options.concurrency;
    this.#byName = new Map(graph.order.map((s) => [s.name, s]));
    this.steps = graph.order.map((s) => ({
      name: s.name,
      inputs: [...s.inputs],
      outputs: [...s.outputs],
      upstream: [...graph.upstream.get(s.name)!],
      resources: { ...(s.options.resources ?? {}) },
      labels: [...(s.options.resources?.labels ?? [])],
    }));
    for (const s of graph.order) this.#status.set(s.name, "pending");
  }

  get pending(): boolean {
    return !this.#closed || this.#queue.length > 0;
  }

  /** Run the scheduler; when it settles, close the gate (dropping queued steps if it failed). */
  start(wake: () => void): void {
    this.#wake = wake;
    Promise.resolve().then(() => this.#scheduler.run(this)).catch((err) => {
      this.#failed = true;
      this.#error = err ?? new Error("scheduler failed");
      this.#queue.length = 0;
    }).finally(() => {
      this.#closed = true;
      this.#wake();
    });
  }

  ready(s: Step): void {
    this.#status.set(s.name, this.#ticketOf.has(s.name) ? "queued" : "ready");
  }

  started(step: string): void {
    this.#status.set(step, "running");
  }

  finished(step: string, result: StepResult): void {
    this.#status.set(step, finalStatus(result));
    if (result.error) this.#errors.set(step, result.error);
    for (const w of [...(this.#waiters.get(step) ?? [])]) w();
  }

  next(): Step | undefined {
    return this.#queue.shift();
  }

  leftOut(waiting: string[]): { reason: string; error?: Error; replaces?: boolean } {
    const who = this.#scheduler.name;
    const reason = `never submitted by the scheduler (${who})`;
    if (this.#failed) {
      const e = this.#error;
      const why = e instanceof Error ? e.message : String(e);
      const error = new FlowymlError(`the scheduler (${who}) failed: ${why}`, { cause: e });
      return { reason, error, replaces: true };
    }
    if (!waiting.length) return { reason };
    const error = new FlowymlError(
      `the scheduler (${who}) returned without submitting ${waiting.length} step(s): ${
        waiting.join(", ")
      }; they were skipped`,
      { hint: "a scheduler must submit every step once its upstream steps completed" },
    );
    return { reason, error };
  }

  submit(step: string): { ticket: string; status: ScheduleStatus } {
    if (this.#closed) throw new SchedulingError("conflict", "the run is no longer scheduling");
    const st = this.#status.get(step);
    if (!st) throw new SchedulingError("not_found", `no step "${step}" in this run`);
    const had = this.#ticketOf.get(step);
    if (had) throw new SchedulingError("conflict", `already submitted (ticket ${had})`);
    if (st === "pending") {
      const up = this.steps.find((s) => s.name === step)!.upstream;
      const waiting = up.filter((u) => !["completed", "cached"].includes(this.#status.get(u)!));
      throw new SchedulingError(
        "conflict",
        `not ready: upstream ${waiting.map((u) => `"${u}"`).join(", ")} not completed`,
      );
    }
    if (st !== "ready") throw new SchedulingError("conflict", `cannot be submitted: it is ${st}`);
    const ticket = `t${this.#tickets.size + 1}`;
    this.#tickets.set(ticket, step);
    this.#ticketOf.set(step, ticket);
    this.#status.set(step, "queued");
    this.#queue.push(this.#byName.get(step)!);
    this.#wake();
    return { ticket, status: this.#state(step).status };
  }

  async wait(
    ticket: string,
    options: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<ScheduledStepState> {
    const step = this.#tickets.get(ticket);
    if (!step) throw new SchedulingError("not_found", `no ticket "${ticket}" in this run`);
    if (!this.#state(step).done) await this.#until(step, options);
    return this.#state(step);
  }

  #until(step: string, options: { timeoutMs?: number; signal?: AbortSignal }): Promise<void> {
    return new Promise<void>((resolve) => {
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

  status(step?: string): ScheduledStepState[] {
    if (step === undefined) return this.steps.map((s) => this.#state(s.name));
    if (!this.#status.has(step)) {
      throw new SchedulingError("not_found", `no step "${step}" in this run`);
    }
    return [this.#state(step)];
  }

  #state(step: string): ScheduledStepState {
    const status = this.#status.get(step)!;
    const ticket = this.#ticketOf.get(step);
    const error = this.#errors.get(step);
    return {
      step,
      status,
      done: FINAL.has(status),
      ...(ticket ? { ticket } : {}),
      ...(error ? { error } : {}),
    };
  }
}
