/**
 * A step pod's log: followed live once the container runs (each `step_log`
 * line of `flowyml step run` goes to the run's step log as it comes), and
 * read whole for a failed attempt's error.
 * @module
 */
import { Writable } from "node:stream";
import type { Cluster } from "./cluster.ts";
import { STEP_CONTAINER } from "./manifests.ts";

/** The log of one step attempt's pod. */
export class PodLogs {
  /** How many `step_log` lines were sent live. */
  forwarded = 0;
  #cluster: Cluster;
  #emit: (message: string) => void;
  #following?: string;
  #ctl?: AbortController;
  #buf = "";
  #stopped = false;

  /** The log of a pod in `cluster`; `emit` writes one line of the step's log. */
  constructor(cluster: Cluster, emit: (message: string) => void) {
    this.#cluster = cluster;
    this.#emit = emit;
  }

  /** Say something about the attempt in the step's log. */
  say(message: string): void {
    this.#emit(message);
  }

  /** Start following `pod`'s log (once). */
  follow(pod: string): void {
    if (this.#following) return;
    this.#following = pod;
    const sink = new Writable({
      write: (chunk, _enc, cb) => {
        this.#lines(String(chunk));
        cb();
      },
    });
    this.#cluster.log.log(this.#cluster.namespace, pod, STEP_CONTAINER, sink, { follow: true })
      .then((ctl) => {
        this.#ctl = ctl;
        if (this.#stopped) ctl.abort();
      })
      .catch(() => {}); // live lines are a convenience: the whole log is read at the end
  }

  #lines(text: string): void {
    if (this.#stopped) return;
    this.#buf += text;
    const parts = this.#buf.split("\n");
    this.#buf = parts.pop() ?? "";
    for (const line of parts) {
      try {
        const e = JSON.parse(line);
        if (e?.event === "step_log" && typeof e.message === "string") {
          this.forwarded++;
          this.#emit(e.message);
        }
      } catch {
        // not one of step run's JSON lines
      }
    }
  }

  /** The whole log of `pod` (empty when it has none to give). */
  async all(pod: string | undefined): Promise<string[]> {
    if (!pod) return [];
    try {
      const text = await this.#cluster.core.readNamespacedPodLog({
        name: pod,
        namespace: this.#cluster.namespace,
        container: STEP_CONTAINER,
      });
      return String(text).split("\n");
    } catch {
      return [];
    }
  }

  /** Stop following. */
  stop(): void {
    this.#stopped = true;
    this.#ctl?.abort();
  }
}
