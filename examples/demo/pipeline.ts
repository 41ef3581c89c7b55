/**
 * The demo: a small, real ML pipeline in pure TypeScript.
 *
 * load (seeded synthetic flowers) → split → standardize → train 3 learning
 * rates in parallel → evaluate → pick and save the best model; and a
 * data-profile branch whose scaling step is an untrusted WASM plugin run in
 * the sandbox with narrow grants.
 *
 * Run it with `deno task demo` (or `deno task flowyml run examples/demo/pipeline.ts`).
 * Run it twice: the second run is served from the cache.
 * @module
 */
import { Pipeline, pluginStep, step } from "flowyml";
import {
  accuracy,
  fitScaler,
  makeFlowers,
  type Model,
  scale,
  trainSoftmax,
  trainTestSplit,
} from "./ml.ts";

const LEARNING_RATES = [0.01, 0.1, 1.0];

const load = step(
  { name: "load", outputs: ["dataset"] },
  (_, ctx) => makeFlowers(Number(ctx.params.rows ?? 600), Number(ctx.params.seed ?? 42)),
);

const split = step(
  { name: "split", inputs: ["dataset"], outputs: ["train", "test"] },
  ({ dataset }, ctx) => trainTestSplit(dataset, 0.25, Number(ctx.params.seed ?? 42)),
);

const standardize = step(
  { name: "standardize", inputs: ["train", "test"], outputs: ["train_std", "test_std", "scaler"] },
  ({ train, test }) => {
    const scaler = fitScaler(train.X);
    return { train_std: scale(train, scaler), test_std: scale(test, scaler), scaler };
  },
);

const trainers = LEARNING_RATES.map((lr, i) =>
  step(
    { name: `train_lr_${lr}`, inputs: ["train_std"], outputs: [`model_${i}`] },
    async ({ train_std }, ctx) => {
      const model = await trainSoftmax(train_std, {
        lr,
        epochs: Number(ctx.params.epochs ?? 200),
        signal: ctx.signal,
      });
      ctx.log(`lr=${lr} train loss ${model.trainLoss.toFixed(4)}`);
      ctx.logMetrics({ train_loss: model.trainLoss });
      return model;
    },
  )
);

const evaluate = step(
  {
    name: "evaluate",
    inputs: ["test_std", ...LEARNING_RATES.map((_, i) => `model_${i}`)],
    outputs: ["metrics", "best_model"],
  },
  (inputs: Record<string, unknown>, ctx) => {
    const test = inputs.test_std as Parameters<typeof accuracy>[1];
    const scored = LEARNING_RATES.map((lr, i) => {
      const model = inputs[`model_${i}`] as Model;
      return { lr, accuracy: accuracy(model, test), trainLoss: model.trainLoss, model };
    });
    scored.sort((a, b) => b.accuracy - a.accuracy || a.trainLoss - b.trainLoss);
    for (const s of scored) ctx.logMetrics({ [`test_accuracy_lr_${s.lr}`]: s.accuracy });
    for (const s of scored) ctx.log(`lr=${s.lr}: test accuracy ${(s.accuracy * 100).toFixed(1)}%`);
    return {
      metrics: scored.map(({ lr, accuracy, trainLoss }) => ({ lr, accuracy, trainLoss })),
      best_model: scored[0].model,
    };
  },
);

const save = step(
  {
    name: "save_best",
    inputs: ["best_model", "scaler", "metrics"],
    outputs: ["model_card"],
    cache: false,
  },
  async ({ best_model, scaler, metrics }, ctx) => {
    const path = ".flowyml/models/best_model.json";
    await Deno.mkdir(".flowyml/models", { recursive: true });
    await Deno.writeTextFile(path, JSON.stringify({ model: best_model, scaler }, null, 2));
    const best = (metrics as { lr: number; accuracy: number }[])[0];
    ctx.log(`best: lr=${best.lr} (${(best.accuracy * 100).toFixed(1)}% accuracy) saved to ${path}`);
    return { path, lr: best.lr, accuracy: best.accuracy };
  },
);

// Data-profile branch: a third-party WASM plugin (sandboxed, granted nothing but CPU and 16 MiB;
// see plugins.normalize in flowyml.yaml) min-max scales a raw feature column for a histogram.
const column = step(
  { name: "petal_length_column", inputs: ["dataset"], outputs: ["petal_length"] },
  ({ dataset }) => Float64Array.from(dataset.X, (row: number[]) => row[2]),
);
const scaleColumn = pluginStep("normalize", {
  name: "wasm_minmax",
  inputs: ["petal_length"],
  outputs: ["petal_length_scaled"],
  config: { mode: "minmax" },
});
const profile = step(
  { name: "profile", inputs: ["petal_length_scaled"], outputs: ["histogram"] },
  ({ petal_length_scaled }, ctx) => {
    const bins = new Array(10).fill(0);
    for (const v of petal_length_scaled as Float64Array) bins[Math.min(9, Math.floor(v * 10))]++;
    ctx.log(`petal_length histogram (min-max scaled in WASM): ${bins.join(" ")}`);
    return bins;
  },
);

/** The demo pipeline. */
const pipeline = new Pipeline("flowers", { source: import.meta.url });
for (
  const s of [load, split, standardize, ...trainers, evaluate, save, column, scaleColumn, profile]
) {
  pipeline.add(s);
}
export default pipeline;

if (import.meta.main) {
  const result = await pipeline.run();
  console.log(result.status, result.outputs.model_card);
}
