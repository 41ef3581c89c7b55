/**
 * Defence in depth inside the plugin host process (host_process.ts), always
 * on whatever the OS enforces: the process reads its own resident memory
 * (`Deno.memoryUsage().rss`, no permission needed, ~7 µs) from the
 * cooperative interrupt, every host call and Extism's `alloc`, at most every
 * {@linkcode RSS_EVERY_MS} ms (or after {@linkcode ALLOC_CHECK_BYTES} of
 * `alloc`), and the call stops with the memory-grant violation when it is
 * over the limit the kernel sent. A hoard between two checks is bounded by
 * what the plugin can allocate in that time, and by the OS limit if any.
 * @module
 */

/** How often (ms) the RSS is read at most. */
export const RSS_EVERY_MS = 4;
/** Past this many bytes of Extism `alloc`, the RSS is read now. */
export const ALLOC_CHECK_BYTES = 8 << 20;

/** The RSS limit of this process and when it was last checked. */
export class MemoryGuard {
  /** RSS limit in bytes; 0: none. */
  limit = 0;
  #checkedAt = 0;
  #allocSince = 0;

  /** A new limit (0: none); the next check reads the RSS. */
  set(limit: number): void {
    this.limit = limit;
    this.#checkedAt = 0;
  }

  /** Why the process is over its limit, if it is (read at most every RSS_EVERY_MS). */
  due(now = Date.now()): string | undefined {
    if (!this.limit || now - this.#checkedAt < RSS_EVERY_MS) return undefined;
    return this.check(now);
  }

  /** The same for an Extism `alloc` of `size` bytes (read sooner after much allocation). */
  alloc(size: number): string | undefined {
    if (!this.limit) return undefined;
    if (size > this.limit) return `alloc of ${size} bytes is over its memory limit`;
    this.#allocSince += size;
    if (this.#allocSince <= ALLOC_CHECK_BYTES) return this.due();
    return this.check();
  }

  /** Read the RSS now: why it is over the limit (after a GC: garbage is no violation), if it is. */
  check(now = Date.now()): string | undefined {
    this.#checkedAt = now;
    this.#allocSince = 0;
    if (Deno.memoryUsage().rss <= this.limit) return undefined;
    (globalThis as { gc?: () => void }).gc?.();
    const rss = Deno.memoryUsage().rss;
    if (rss <= this.limit) return undefined;
    return `its process reached ${mib(rss)} RSS, over its limit of ${mib(this.limit)} ` +
      "(checked by flowyml in the plugin process)";
  }
}

function mib(n: number): string {
  return `${(n / 2 ** 20).toFixed(0)} MiB`;
}
