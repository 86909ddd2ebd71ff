// Which rows a training step sees, and how a validation split is taken: pure functions over
// row lists, driven by the project's PRNG (rng.ts), so they are testable on their own and give
// the same rows in Node and in browsers.

import { Stream, streamKey, uniformInt } from './rng.js';

/**
 * Stratified split of a dataset's positions 0..n−1: in each class, a seeded shuffle puts
 * round(fraction·count) positions in `validation` and the rest in `train` (both sorted).
 */
export function stratifiedSplit(labels: ArrayLike<number>, numClasses: number, fraction: number, seed: number): { train: Int32Array; validation: Int32Array } {
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < labels.length; i++) byClass[labels[i]].push(i);
  const train: number[] = [], validation: number[] = [];
  byClass.forEach((rows, c) => {
    const key = streamKey(seed, Stream.split, 0, c);
    for (let i = rows.length - 1; i > 0; i--) { // Fisher–Yates
      const j = uniformInt(key, i, i + 1);
      [rows[i], rows[j]] = [rows[j], rows[i]];
    }
    const nVal = Math.round(fraction * rows.length);
    validation.push(...rows.slice(0, nVal));
    train.push(...rows.slice(nVal));
  });
  const sorted = (a: number[]) => Int32Array.from(a).sort();
  return { train: sorted(train), validation: sorted(validation) };
}

/**
 * One batch of b rows, uniformly with replacement (the reference's sampling): the first
 * b − replay rows from `pool`, the last `replay` rows from `replayPool` (other classes mixed in to
 * limit forgetting). `pos` receives the positions within `pool` of the first part (for caches).
 */
export function sampleBatch(pool: Int32Array, replayPool: Int32Array | null, b: number, replay: number,
  key: number, rows: Int32Array, pos: Int32Array): void {
  const own = b - replay;
  for (let i = 0; i < own; i++) { pos[i] = uniformInt(key, i, pool.length); rows[i] = pool[pos[i]]; }
  for (let i = own; i < b; i++) { pos[i] = -1; rows[i] = replayPool![uniformInt(key, i, replayPool!.length)]; }
}
