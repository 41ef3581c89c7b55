/**
 * Group commit of the SQLite metadata store: step completions and staged
 * inline blobs wait in memory and are committed together, in arrival order,
 * in one transaction. A completion recorded without `defer` is committed at
 * the end of the event-loop turn and its promise resolves once it is; a
 * deferred one resolves at once and is committed within {@linkcode DEFER_MS}
 * (or sooner: when the batch is full, when the store is used for anything
 * else, on `flush()` and `close()`).
 *
 * What survives a `kill -9`: every transaction committed before it, whole.
 * A completion is committed in the same transaction as the blobs staged
 * before it, or a later one, so no committed record names a blob that was
 * not committed; a step whose record was not yet committed has no step
 * record, cache entry or lineage, and a resumed run runs it again.
 * @module
 */
import type { StepCompletion } from "../../kernel/contracts.ts";

/** A deferred completion waits at most this long (ms) for its transaction. */
const DEFER_MS = 1;

/** A batch commits at once when it holds this many completions. */
const MAX_BATCH = 512;

interface Pending {
  c: StepCompletion;
  resolve?: () => void;
  reject?: (e: unknown) => void;
}

/** Writes one transaction: the blobs, then the completions (synchronous, as `node:sqlite`). */
export type CommitFn = (list: StepCompletion[], blobs: Map<string, Uint8Array>) => void;

/** The completions and blobs not yet committed, and when they will be. */
export class GroupCommit {
  #pending: Pending[] = [];
  #blobs = new Map<string, Uint8Array>();
  #timer?: ReturnType<typeof setTimeout>;
  #soon = false;
  #failed?: unknown;
  /**
   * Artifacts (by hash) whose record or bytes could not be committed, with the error: a later
   * completion that consumed one is not committed either (its lineage would name a missing
   * artifact), and its own outputs join them. An artifact leaves when a completion producing it
   * is queued again (a re-run).
   */
  #lost = new Map<string, unknown>();
  /**
   * Blobs (by hash) whose transaction failed and that no transaction has committed since: a
   * completion naming one as its own inline output, not staged again, is not committed.
   */
  #lostBlobs = new Map<string, unknown>();
  #commit: CommitFn;
  #explain: (err: unknown) => unknown;

  /** Batches committed by `commit`; `explain` turns a commit error into the user's error. */
  constructor(commit: CommitFn, options: { explain: (err: unknown) => unknown }) {
    this.#commit = commit;
    this.#explain = options.explain;
  }

  /** Nothing is waiting to be committed. */
  get idle(): boolean {
    return this.#pending.length === 0 && this.#blobs.size === 0;
  }

  /**
   * Queue a completion. Deferred: resolves at once (commit errors surface from
   * {@linkcode takeError}); else resolves once committed.
   */
  add(c: StepCompletion, defer: boolean): Promise<void> {
    const refused = this.#refusal(c);
    if (refused !== undefined) {
      this.#loseOutputs(c, refused);
      if (!defer) return Promise.reject(refused);
      this.#failed ??= refused;
      return Promise.resolve();
    }
    if (this.#lost.size || this.#lostBlobs.size) {
      for (const h of outputHashes(c)) {
        this.#lost.delete(h);
        this.#lostBlobs.delete(h);
      }
    }
    if (defer) {
      this.#pending.push({ c });
      if (this.#pending.length >= MAX_BATCH) this.flush();
      else this.#later();
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ c, resolve, reject });
      if (!this.#soon) {
        this.#soon = true;
        // A timer, not node:timers' setImmediate: importing node:timers would load Deno's Node
        // compatibility layer with `import "flowyml"` (a run loads it on its first timer anyway).
        setTimeout(() => this.#soon && this.flush(), 0);
      }
    });
  }

  /** Stage a blob: committed with the next batch. */
  stage(hash: string, bytes: Uint8Array): void {
    this.#blobs.set(hash, bytes);
    this.#later();
  }

  /** A staged (not yet committed) blob. */
  staged(hash: string): Uint8Array | undefined {
    return this.#blobs.get(hash);
  }

  /** Commit everything waiting now. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#soon = false;
    const batch = this.#pending;
    const blobs = this.#blobs;
    if (!batch.length && !blobs.size) return;
    this.#pending = [];
    this.#blobs = new Map();
    this.#write(batch, blobs);
  }

  /** The first error of a deferred completion that could not be committed (then cleared). */
  takeError(): unknown {
    const e = this.#failed;
    this.#failed = undefined;
    return e;
  }

  #later(): void {
    this.#timer ??= setTimeout(() => this.flush(), DEFER_MS);
  }

  /**
   * One transaction for the batch. If it fails, the blobs are committed alone and each
   * completion in a transaction of its own, so only the faulty one is lost (in order: a
   * completion is never committed before the blobs staged ahead of it).
   */
  #write(queued: Pending[], blobs: Map<string, Uint8Array>): void {
    const batch = queued.filter((p) => this.#admit(p));
    if (!batch.length && !blobs.size) return;
    try {
      this.#commit(batch.map((p) => p.c), blobs);
      this.#committed(blobs);
      for (const p of batch) p.resolve?.();
      return;
    } catch (err) {
      if (batch.length <= 1 && !blobs.size) return this.#fail(batch[0], err);
    }
    try {
      if (blobs.size) this.#commit([], blobs);
      this.#committed(blobs);
    } catch (err) {
      const e = this.#explain(err);
      for (const h of blobs.keys()) this.#lostBlobs.set(h, e);
      for (const p of batch) this.#fail(p, err);
      if (!batch.length) this.#failed ??= e;
      return;
    }
    for (const p of batch) {
      if (!this.#admit(p)) continue; // it consumed an output of one that failed just before
      try {
        this.#commit([p.c], new Map());
        p.resolve?.();
      } catch (err) {
        this.#fail(p, err);
      }
    }
  }

  /** Blobs committed: no longer lost (a re-run's bytes may commit before its completion). */
  #committed(blobs: Map<string, Uint8Array>): void {
    if (this.#lostBlobs.size) { for (const h of blobs.keys()) this.#lostBlobs.delete(h); }
  }

  #fail(p: Pending, err: unknown): void {
    this.#refuse(p, this.#explain(err));
  }

  /** Not committed: its outputs are lost, its caller learns why. */
  #refuse(p: Pending, e: unknown): void {
    this.#loseOutputs(p.c, e);
    if (p.reject) p.reject(e);
    else this.#failed ??= e;
  }

  /** Whether `p` may still be committed; refuses it when one of its inputs was lost. */
  #admit(p: Pending): boolean {
    const refused = this.#refusal(p.c);
    if (refused === undefined) return true;
    this.#refuse(p, refused);
    return false;
  }

  /** The error of a lost artifact this completion consumed or names as its own stored output. */
  #refusal(c: StepCompletion): unknown {
    if (this.#lost.size) {
      for (const e of c.lineage ?? []) {
        if (e.direction === "input" && this.#lost.has(e.hash)) return this.#lost.get(e.hash);
      }
    }
    if (!this.#lostBlobs.size) return undefined;
    for (const o of Object.values(c.stepRun.outputs ?? {})) {
      // Inline bytes staged earlier whose transaction failed, not committed since.
      if (o.inline && this.#lostBlobs.has(o.hash) && !this.#blobs.has(o.hash)) {
        return this.#lostBlobs.get(o.hash);
      }
    }
    return undefined;
  }

  #loseOutputs(c: StepCompletion, e: unknown): void {
    for (const h of outputHashes(c)) this.#lost.set(h, e);
  }
}

/** The hashes of the artifacts a completion produced. */
function outputHashes(c: StepCompletion): string[] {
  const out = Object.values(c.stepRun.outputs ?? {}).map((o) => o.hash);
  for (const e of c.lineage ?? []) if (e.direction === "output") out.push(e.hash);
  return out;
}
