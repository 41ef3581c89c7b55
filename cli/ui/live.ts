/**
 * Live run updates for `flowyml ui`, as server-sent events. One watcher per
 * watched run asks the store for the run's version (one small query,
 * {@linkcode UiQueries.runVersion}) every {@linkcode WATCH_INTERVAL_MS}; when
 * it changes, the full run payload is pushed to every open page. The page
 * itself never polls: it listens on its `EventSource`.
 * @module
 */
import type { UiQueries } from "../../kernel/ui_queries.ts";

/** How often a watcher asks the store whether a watched run changed. */
export const WATCH_INTERVAL_MS = 250;
const KEEPALIVE_MS = 15_000;

interface Watcher {
  clients: Set<ReadableStreamDefaultController<Uint8Array>>;
  version?: string;
  last?: Uint8Array;
  timer: ReturnType<typeof setInterval>;
  busy: boolean;
}

/** Pushes a run's payload to its subscribers whenever the run changes in the store. */
export class RunWatchers {
  #watchers = new Map<string, Watcher>();
  #enc = new TextEncoder();
  #keepalive: ReturnType<typeof setInterval>;

  /** `payload(runId)` builds what is sent (the same JSON as `GET /api/run/<id>`). */
  constructor(
    private readonly queries: UiQueries,
    private readonly payload: (runId: string) => Promise<unknown>,
  ) {
    this.#keepalive = setInterval(() => this.#broadcastAll(": keepalive\n\n"), KEEPALIVE_MS);
  }

  /** An SSE response streaming `update` events for `runId`. */
  subscribe(runId: string, signal: AbortSignal): Response {
    let ctl: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start: (c) => {
        ctl = c;
        const w = this.#watch(runId);
        w.clients.add(c);
        if (w.last) c.enqueue(w.last);
      },
      cancel: () => this.#drop(runId, ctl),
    });
    signal.addEventListener("abort", () => this.#drop(runId, ctl), { once: true });
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
      },
    });
  }

  #watch(runId: string): Watcher {
    let w = this.#watchers.get(runId);
    if (w) return w;
    const watcher = { clients: new Set(), busy: false } as unknown as Watcher;
    watcher.timer = setInterval(() => this.#tick(runId, watcher), WATCH_INTERVAL_MS);
    this.#watchers.set(runId, w = watcher);
    this.#tick(runId, watcher);
    return w;
  }

  async #tick(runId: string, w: Watcher): Promise<void> {
    if (w.busy) return;
    w.busy = true;
    try {
      const v = await this.queries.runVersion(runId);
      if (v === w.version) return;
      w.version = v;
      const data = JSON.stringify(await this.payload(runId));
      w.last = this.#enc.encode(`event: update\ndata: ${data}\n\n`);
      for (const c of w.clients) this.#send(c, w.last);
    } catch (err) {
      const msg = JSON.stringify({ error: (err as Error).message });
      for (const c of w.clients) {
        this.#send(c, this.#enc.encode(`event: failure\ndata: ${msg}\n\n`));
      }
    } finally {
      w.busy = false;
    }
  }

  #send(c: ReadableStreamDefaultController<Uint8Array>, bytes: Uint8Array): void {
    try {
      c.enqueue(bytes);
    } catch {
      // the client went away; cancel() drops it
    }
  }

  #broadcastAll(text: string): void {
    const bytes = this.#enc.encode(text);
    for (const w of this.#watchers.values()) for (const c of w.clients) this.#send(c, bytes);
  }

  #drop(runId: string, c: ReadableStreamDefaultController<Uint8Array>): void {
    const w = this.#watchers.get(runId);
    if (!w) return;
    w.clients.delete(c);
    try {
      c.close();
    } catch {
      // already closed
    }
    if (!w.clients.size) {
      clearInterval(w.timer);
      this.#watchers.delete(runId);
    }
  }

  /** Stop every watcher and close every stream. */
  close(): void {
    clearInterval(this.#keepalive);
    for (const [runId, w] of [...this.#watchers]) {
      for (const c of [...w.clients]) this.#drop(runId, c);
    }
  }
}
