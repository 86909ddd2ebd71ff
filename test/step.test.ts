// One training step of the wasm engine equals one step of the reference kernels, on the
// reference model (784→1000→2000→10, dropout on, raw 0..255 pixels), for the full step and the
// LoRA step. Same seed, so same batch and same dropout masks: the only differences are f32
// rounding inside the products.
//
// Tolerance: Adam's first step moves every weight by lr·g/(|g| + ε) ≈ ±lr whatever |g| is, so a
// weight whose gradient is ~0 can flip sign on rounding noise. We therefore require
//  - the loss within 1e-5 relative,
//  - every weight within lr·1e-3 of the reference after the step, except at most 0.01 % of them
//    (those with |g| at rounding-noise level), which must still be within 2·lr.
import { describe, expect, it } from 'vitest';
import { Engine } from '../src/engine/engine.js';
import type { Kernels } from '../src/engine/kernels.js';
import { loadMnist } from '../src/mnist-node.js';
import { fastKernelSets, reference32 } from './helpers.js';

const mnist = await loadMnist();
// 2,000 training images are plenty for one batch and keep the copy into each engine cheap.
const N = 2000;
const images = mnist.train.images.subarray(0, N * 784), labels = mnist.train.labels.subarray(0, N);

async function oneStep(k: Kernels, lora: boolean) {
  const e = new Engine(k);
  const d = e.addDataset({ images, labels, rowLen: 784 });
  const m = e.createMlp({ seed: 7 });
  if (lora) {
    // A pre-trained-ish base first (3 steps), then one adapter step with B ≠ 0 after a first step.
    await e.train(m, d.id, { steps: 3, batchSize: 32 });
    e.loraize(m, { r: 2, alpha: 1, init: 'reference' });
    await e.train(m, d.id, { steps: 1, batchSize: 32, lr: 1e-3 });
  }
  const r = await e.train(m, d.id, { steps: 1, batchSize: 32, lr: 1e-3 });
  return { loss: r.losses[0], w: e.readWeights(m) };
}

function compare(label: string, got: Float32Array, want: Float32Array, lr: number) {
  let max = 0, outliers = 0;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    max = Math.max(max, d);
    if (d > lr * 1e-3) {
      outliers++;
      expect(d).toBeLessThanOrEqual(2 * lr);
    }
  }
  console.log(`${label}: max |diff| = ${max.toExponential(3)}, ${outliers} of ${got.length} beyond lr·1e-3`);
  expect(outliers).toBeLessThanOrEqual(Math.ceil(got.length * 1e-4));
}

for (const set of fastKernelSets()) {
  describe(`${set.name}: one training step equals the reference step`, () => {
    it('full step (pre-training)', async () => {
      const [fast, ref] = [await oneStep(await set.make(), false), await oneStep(reference32(), false)];
      console.log(`${set.name} full step loss ${fast.loss} vs reference ${ref.loss}`);
      expect(Math.abs(fast.loss - ref.loss)).toBeLessThanOrEqual(1e-5 * Math.abs(ref.loss));
      fast.w.W.forEach((w, l) => compare(`${set.name} W${l + 1}`, w, ref.w.W[l], 1e-3));
    });

    it('LoRA step (fine-tuning)', async () => {
      const [fast, ref] = [await oneStep(await set.make(), true), await oneStep(reference32(), true)];
      console.log(`${set.name} LoRA step loss ${fast.loss} vs reference ${ref.loss}`);
      expect(Math.abs(fast.loss - ref.loss)).toBeLessThanOrEqual(1e-4 * Math.abs(ref.loss));
      fast.w.A.forEach((a, l) => compare(`${set.name} A${l + 1}`, a!, ref.w.A[l]!, 1e-3));
      fast.w.B.forEach((b, l) => compare(`${set.name} B${l + 1}`, b!, ref.w.B[l]!, 1e-3));
    });
  });
}
