/**
 * The state of one run while the engine drives it: where each step is
 * (waiting, running, done, failed, skipped), the artifacts produced so far,
 * the values still in memory (freed once their last consumer ran), the step
 * results, and the final outputs being loaded. Nothing here schedules or runs
 * a step: the engine (kernel/engine.ts) asks and updates it.
 * @module
 */
import type { RunEvent, StackLike, StepResult } from "./contracts.ts";
import type { PipelineGraph } from "./graph.ts";
import type { ArtifactRef } from "./records.ts";
import { FinalOutputs } from "./run_outputs.ts";
import type { Step } from "./step.ts";
import type { ValueCache } from "./step_runner.ts";

/** Where a step of a run is. */
export type StepState = "waiting" | "running" | "done" | "failed" | "skipped";

/** Options of the {@linkcode RunState} constructor. */
export interface RunStateOptions {
  /** Id of the run. */
  runId: string;
  /** The stack the run records to. */
  stack: StackLike;
  /** Receives the run's events. */
  emit: (e: RunEvent) => void;
  /** Values produced in this process, by hash (shared with the dispatcher). */
  values?: ValueCache;
  /** Load final outputs computed elsewhere (default `true`). */
  loadOutputs?: boolean;
  /** True once another process owns the run: nothing more is written. */
  lost: () => boolean;
}

/** One run's state, owned by the engine. */
export class RunState {
  /** Id of the run. */
  readonly runId: string;
  /** The validated graph, built once per run. */
  readonly graph: PipelineGraph;
  /** The stack the run records to. */
  readonly stack: StackLike;
  /** Receives the run's events. */
  readonly emit: (e: RunEvent) => void;
  /** Values produced in this process, by content hash. */
  readonly values: ValueCache;
  /** Artifacts produced so far, by artifact name. */
  readonly refs: Map<string, ArtifactRef> = new Map();
  /** Result of every step that reached a final status. */
  readonly results: Record<string, StepResult> = {};
  /** Steps a cancellation interrupted while they ran. */
  readonly interrupted: string[] = [];
  /** The first step failure (the run's error). */
  firstError?: Error;
  /** Told about every final step result (the scheduling order listens). */
  onFinished: (step: string, result: StepResult) => void = () => {};
  #state = new Map<string, StepState>();
  #missing = new Map<string, number>();
  #consumers = new Map<string, number>();
  #byName: Map<string, Step>;
  #finals: FinalOutputs;
  #lost: () => boolean;

  /** The state of a new run over `graph`: every step waiting. */
  constructor(graph: PipelineGraph, options: RunStateOptions) {
    this.graph = graph;
    this.runId = options.runId;
    this.stack = options.stack;
    this.emit = options.emit;
    this.values = options.values ?? new Map();
    this.#lost = options.lost;
    this.#byName = new Map(graph.order.map((s) => [s.name, s]));
    for (const s of graph.order) {
      this.#state.set(s.name, "waiting");
      this.#missing.set(s.name, graph.upstream.get(s.name)!.length);
      for (const i of s.inputs) this.#consumers.set(i, (this.#consumers.get(i) ?? 0) + 1);
    }
    this.#finals = new FinalOutputs(this.stack, this.runId, {
      consumed: new Set(this.#consumers.keys()),
      values: this.values,
      load: options.loadOutputs !== false,
    });
  }

  /** Steps with no upstream step. */
  roots(): Step[] {
    return this.graph.order.filter((s) => this.#missing.get(s.name) === 0);
  }

  /** Where `step` is. */
  stateOf(step: string): StepState {
    return this.#state.get(step)!;
  }

  /** Steps never started. */
  waiting(): string[] {
    return [...this.#state].filter(([, st]) => st === "waiting").map(([n]) => n);
  }

  /** Mark `step` running; false when it is not waiting (then it must not start). */
  start(step: string): boolean {
    if (this.#state.get(step) !== "waiting") return false;
    this.#state.set(step, "running");
    return true;
  }

  /** The input references of `s`, from the artifacts produced so far. */
  inputsOf(s: Step): Record<string, ArtifactRef> {
    const inputs: Record<string, ArtifactRef> = {};
    for (const i of s.inputs) inputs[i] = this.refs.get(i)!;
    return inputs;
  }

  /** Artifact `name` was produced (a final output not in memory starts loading at once). */
  produced(name: string, ref: ArtifactRef): void {
    this.refs.set(name, ref);
    this.#finals.produced(name, ref);
  }

  /** `step` reached its final result: record it in the results and emit `step_finished`. */
  settle(step: string, result: StepResult): void {
    this.results[step] = result;
    this.emit({
      type: "step_finished",
      runId: this.runId,
      step,
      status: result.status,
      durationMs: result.durationMs,
    });
  }

  /** `s` completed: returns the downstream steps that became ready. */
  completed(s: Step): Step[] {
    this.#state.set(s.name, "done");
    const ready: Step[] = [];
    for (const d of this.graph.downstream.get(s.name)!) {
      const left = this.#missing.get(d)! - 1;
      this.#missing.set(d, left);
      if (left === 0) ready.push(this.#byName.get(d)!);
    }
    return ready;
  }

  /** `s` failed (or was cancelled): keep the first error and skip everything downstream. */
  failed(s: Step, err: unknown): void {
    this.#state.set(s.name, "failed");
    this.firstError ??= err instanceof Error ? err : new Error(String(err));
    this.#skipDownstream(s.name);
  }

  /** `s` ended either way: free the values no other step will read. */
  released(s: Step): void {
    for (const i of s.inputs) {
      const left = (this.#consumers.get(i) ?? 1) - 1;
      this.#consumers.set(i, left);
      const r = this.refs.get(i);
      if (left === 0 && r) this.values.delete(r.hash);
    }
  }

  /** Record `step` skipped (with `error` as the reason, when given). */
  skip(step: string, error?: string): Promise<void> {
    this.#state.set(step, "skipped");
    const result: StepResult = {
      status: "skipped",
      cached: false,
      durationMs: 0,
      attempts: 0,
      outputs: {},
    };
    const rec = { runId: this.runId, step, status: "skipped" as const, cached: false, attempts: 0 };
    const write = this.#lost() // another driver owns the run now: write nothing more
      ? Promise.resolve()
      : this.stack.metadataStore.upsertStepRun(error ? { ...rec, error } : rec).catch(() => {});
    this.settle(step, result);
    this.onFinished(step, result);
    return write;
  }

  #skipDownstream(name: string): void {
    for (const d of this.graph.downstream.get(name)!) {
      if (this.#state.get(d) !== "waiting") continue;
      this.skip(d);
      this.#skipDownstream(d);
    }
  }

  /** The run's output values: those still in memory, plus final outputs loaded from the store. */
  outputs(): Promise<Record<string, unknown>> {
    return this.#finals.collect(this.refs);
  }
}
