/**
 * The chain the benches time: `n` trivial steps, each adding 1 to the one
 * before, on a fresh local stack.
 * @module
 */
import { Pipeline, step } from "../mod.ts";
import { tempStack } from "../tests/kernel/_stack.ts";

/** Milliseconds one run of a chain of `n` steps takes; throws unless it completes. */
export async function timeChain(n: number, options: { cache?: boolean } = {}): Promise<number> {
  const { stack, cleanup } = await tempStack();
  try {
    const p = new Pipeline(`chain${n}`, { stack, concurrency: 1, ...options });
    p.add(step({ name: "s0", outputs: ["v0"] }, () => 0));
    for (let i = 1; i < n; i++) {
      p.add(step(
        { name: `s${i}`, inputs: [`v${i - 1}`], outputs: [`v${i}`] },
        (x: Record<string, number>) => x[`v${i - 1}`] + 1,
      ));
    }
    const t = performance.now();
    const r = await p.run();
    const took = performance.now() - t;
    if (r.status !== "completed" || r.outputs[`v${n - 1}`] !== n - 1) {
      throw new Error(`chain of ${n} did not complete: ${r.error ?? r.status}`);
    }
    return took;
  } finally {
    await cleanup();
  }
}

/** The median of `xs` (the upper one of an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
