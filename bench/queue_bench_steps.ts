/**
 * Bench fixture: a pipeline of 1,000 independent trivial steps (each returns
 * its index), for `bench/queue_bench.ts`. Workers import it by this module's URL.
 * @module
 */
import { Pipeline, step } from "../mod.ts";

/** Number of steps. */
export const STEPS = 1000;

const pipeline = new Pipeline("trivial1000", { source: import.meta.url, cache: false });
for (let i = 0; i < STEPS; i++) pipeline.add(step({ name: `s${i}`, outputs: [`o${i}`] }, () => i));

export default pipeline;
