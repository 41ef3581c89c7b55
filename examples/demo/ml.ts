/**
 * Small, dependency-free ML helpers for the demo: a seeded PRNG, a synthetic
 * 3-class dataset, standardization and softmax regression.
 * @module
 */

/** A labelled dataset: feature rows and integer class labels. */
export interface Dataset {
  X: number[][];
  y: number[];
  classes: string[];
  features: string[];
}

/** Mulberry32: small, fast, seeded PRNG. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gauss(r: () => number): number {
  const u = Math.max(r(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
}

/** Three overlapping Gaussian "flower" classes with 4 features, generated from `seed`. */
export function makeFlowers(n: number, seed: number): Dataset {
  const r = rng(seed);
  const centers = [[5.0, 3.4, 1.5, 0.2], [5.9, 2.8, 4.3, 1.3], [6.6, 3.0, 5.6, 2.0]];
  const spread = [[0.35, 0.38, 0.17, 0.1], [0.52, 0.31, 0.47, 0.2], [0.64, 0.32, 0.55, 0.27]];
  const X: number[][] = [];
  const y: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    X.push(centers[c].map((m, j) => m + spread[c][j] * gauss(r)));
    y.push(c);
  }
  return {
    X,
    y,
    classes: ["setosa", "versicolor", "virginica"],
    features: ["sepal_length", "sepal_width", "petal_length", "petal_width"],
  };
}

/** Seeded shuffle split into train and test. */
export function trainTestSplit(
  d: Dataset,
  testFraction: number,
  seed: number,
): { train: Dataset; test: Dataset } {
  const r = rng(seed);
  const idx = d.X.map((_, i) => i);
  for (let i = idx.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  const cut = Math.round(idx.length * (1 - testFraction));
  const pick = (ids: number[]): Dataset => ({
    ...d,
    X: ids.map((i) => d.X[i]),
    y: ids.map((i) => d.y[i]),
  });
  return { train: pick(idx.slice(0, cut)), test: pick(idx.slice(cut)) };
}

/** Per-feature mean and standard deviation. */
export interface Scaler {
  mean: number[];
  std: number[];
}

/** Fit a standard scaler on `X`. */
export function fitScaler(X: number[][]): Scaler {
  const k = X[0].length;
  const mean = Array.from({ length: k }, (_, j) => X.reduce((s, r) => s + r[j], 0) / X.length);
  const std = Array.from(
    { length: k },
    (_, j) => Math.sqrt(X.reduce((s, r) => s + (r[j] - mean[j]) ** 2, 0) / X.length) || 1,
  );
  return { mean, std };
}

/** Apply a scaler. */
export function scale(d: Dataset, s: Scaler): Dataset {
  return { ...d, X: d.X.map((r) => r.map((v, j) => (v - s.mean[j]) / s.std[j])) };
}

/** A softmax-regression model. */
export interface Model {
  W: number[][];
  b: number[];
  lr: number;
  epochs: number;
  trainLoss: number;
}

function softmax(z: number[]): number[] {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** Predict class probabilities. */
export function predictProba(m: Model, x: number[]): number[] {
  return softmax(m.W.map((w, c) => w.reduce((s, wj, j) => s + wj * x[j], m.b[c])));
}

/**
 * Train softmax regression with full-batch gradient descent. Yields to the
 * event loop every few epochs so parallel training steps interleave.
 */
export async function trainSoftmax(
  d: Dataset,
  options: { lr: number; epochs: number; l2?: number; signal?: AbortSignal },
): Promise<Model> {
  const k = d.X[0].length;
  const C = d.classes.length;
  const W = Array.from({ length: C }, () => new Array(k).fill(0));
  const b = new Array(C).fill(0);
  const l2 = options.l2 ?? 1e-3;
  let loss = 0;
  for (let epoch = 0; epoch < options.epochs; epoch++) {
    const gW = Array.from({ length: C }, () => new Array(k).fill(0));
    const gb = new Array(C).fill(0);
    loss = 0;
    for (let i = 0; i < d.X.length; i++) {
      const p = predictProba({ W, b, lr: 0, epochs: 0, trainLoss: 0 }, d.X[i]);
      loss -= Math.log(Math.max(p[d.y[i]], 1e-12));
      for (let c = 0; c < C; c++) {
        const g = p[c] - (d.y[i] === c ? 1 : 0);
        gb[c] += g;
        for (let j = 0; j < k; j++) gW[c][j] += g * d.X[i][j];
      }
    }
    const n = d.X.length;
    for (let c = 0; c < C; c++) {
      b[c] -= options.lr * gb[c] / n;
      for (let j = 0; j < k; j++) W[c][j] -= options.lr * (gW[c][j] / n + l2 * W[c][j]);
    }
    if (epoch % 10 === 9) {
      options.signal?.throwIfAborted();
      await new Promise((r) => setTimeout(r, 0));
    }
  }
  return { W, b, lr: options.lr, epochs: options.epochs, trainLoss: loss / d.X.length };
}

/** Accuracy of a model on a dataset. */
export function accuracy(m: Model, d: Dataset): number {
  let ok = 0;
  for (let i = 0; i < d.X.length; i++) {
    const p = predictProba(m, d.X[i]);
    if (p.indexOf(Math.max(...p)) === d.y[i]) ok++;
  }
  return ok / d.X.length;
}
