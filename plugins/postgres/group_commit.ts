/**
 * Group commit of the PostgreSQL metadata store's step completions: the
 * completions that arrive in one event-loop turn go to the server as one
 * statement (one round trip, atomic; see completions.ts), together with the
 * inline artifacts' bytes staged since the last one. If a shared statement
 * fails, each completion is retried on its own, so only the faulty one is
 * rejected; a completion is never committed without the blobs it names.
 * @module
 */
import type postgres from "postgres";
import type { StepCompletion } from "../../kernel/contracts.ts";
import { writeCompletions } from "./completions.ts";

type Sql = postgres.Sql;

/** Runs one database operation, errors explained (the store's query wrapper). */
export type RunQuery = <T>(fn: (sql: Sql) => Promise<T>) => Promise<T>;

/** Step completions and staged blobs waiting for their statement. */
export class GroupCommit {
  readonly #q: RunQuery;
  #pending: { c: StepCompletion; resolve: () => void; reject: (e: unknown) => void }[] = [];
  #blobs = new Map<string, Uint8Array>();

  constructor(q: RunQuery) {
    this.#q = q;
  }

  /** Whether completions or staged blobs wait to be written. */
  get waiting(): boolean {
    return this.#pending.length > 0 || this.#blobs.size > 0;
  }

  /** Queue a completion; resolves once it is committed (written in the next event-loop turn). */
  add(c: StepCompletion): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.#pending.push({ c, resolve, reject }) === 1) {
        setTimeout(() => this.flush(), 0);
      }
    });
  }

  /** Stage an inline artifact's bytes: written with the next completion's statement. */
  stageBlob(hash: string, bytes: Uint8Array): void {
    this.#blobs.set(hash, bytes);
  }

  /** A staged blob's bytes (not yet written). */
  staged(hash: string): Uint8Array | undefined {
    return this.#blobs.get(hash);
  }

  /** Write the waiting completions and blobs now. */
  async flush(): Promise<void> {
    const batch = this.#pending;
    const blobs = this.#blobs;
    this.#pending = [];
    this.#blobs = new Map();
    if (!batch.length && !blobs.size) return;
    try {
      await this.#q((sql) => writeCompletions(sql, batch.map((p) => p.c), { blobs }));
      for (const p of batch) p.resolve();
      return;
    } catch (err) {
      if (batch.length === 1 && !blobs.size) return batch[0].reject(err);
      if (blobs.size) {
        // The blobs alone, first: a completion is never committed without the blobs it names.
        const failed = await this.#q((sql) => writeCompletions(sql, [], { blobs })).then(
          () => undefined,
          (e) => e ?? err,
        );
        if (failed) return batch.forEach((p) => p.reject(failed));
      }
    }
    for (const p of batch) {
      await this.#q((sql) => writeCompletions(sql, [p.c])).then(p.resolve, p.reject);
    }
  }
}
