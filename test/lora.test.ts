// LoRA on the wasm engine: a fresh adapter changes nothing, fine-tuning never writes a frozen
// byte (and the check can fail: pre-training does change the hash), and bad configs are refused
// without touching the model.
import { describe, expect, it } from 'vitest';
import { Engine } from '../src/engine/engine.js';
import { OptionError, StateError } from '../src/errors.js';
import { loadMnist } from '../src/mnist-node.js';
import { fastKernelSets, randomFloats } from './helpers.js';

const mnist = await loadMnist();
const N = 3000;
const images = mnist.train.images.subarray(0, N * 784), labels = mnist.train.labels.subarray(0, N);
const set = fastKernelSets().at(-1)!;

async function pretrained() {
  const e = new Engine(await set.make());
  const d = e.addDataset({ images, labels, rowLen: 784 });
  const m = e.createMlp({ seed: 11 });
  await e.train(m, d.id, { steps: 5, batchSize: 64 });
  return { e, d, m };
}

const bytesOf = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

describe(`LoRA (${set.name})`, () => {
  for (const init of ['peft', 'reference'] as const) {
    it(`a freshly loraized model (init ${init}) gives exactly the base model's outputs`, async () => {
      const { e, m } = await pretrained();
      const x = Float32Array.from(images.subarray(0, 37 * 784));
      const before = e.predict(m, x, 37);
      const info = e.loraize(m, { r: 3, alpha: 2, init });
      expect(info.params.trainable).toBe(3 * (784 + 1000) + 3 * (1000 + 2000) + 3 * (2000 + 10));
      const after = e.predict(m, x, 37);
      expect(Array.from(after)).toEqual(Array.from(before));
      // The adapters are really there: a non-zero B·A changes the output.
      const w = e.readWeights(m);
      e.writeWeights(m, { B: w.B.map((b) => b && randomFloats(b.length, 5)), A: w.A.map((a) => a && randomFloats(a.length, 6)) });
      expect(Array.from(e.predict(m, x, 37))).not.toEqual(Array.from(before));
    });
  }

  it('fine-tuning leaves every frozen byte identical and moves the adapters', async () => {
    const { e, d, m } = await pretrained();
    const hash0 = await e.frozenHash(m);
    const w0 = e.readWeights(m);
    const info = e.loraize(m, { r: 1, alpha: 0.5 });
    expect(info.params).toEqual({ frozen: 2_804_000, trainable: 6_794, total: 2_810_794 });
    const a0 = e.readWeights(m);
    await e.train(m, d.id, { steps: 20, batchSize: 64, lr: 1e-3, classes: [8] });
    const w1 = e.readWeights(m);
    w0.W.forEach((w, l) => expect(Buffer.compare(bytesOf(w), bytesOf(w1.W[l]))).toBe(0));
    expect(await e.frozenHash(m)).toBe(hash0);
    w1.B.forEach((b, l) => expect(Array.from(b!)).not.toEqual(Array.from(a0.B[l]!)));
    // Writing base weights is refused once frozen.
    expect(() => e.writeWeights(m, { W: w0.W })).toThrow(StateError);
  });

  it('the frozen-weight check can fail: training the base changes the hash', async () => {
    const { e, d, m } = await pretrained();
    const hash0 = await e.frozenHash(m);
    await e.train(m, d.id, { steps: 1, batchSize: 8 });
    expect(await e.frozenHash(m)).not.toBe(hash0);
  });

  it('bad LoRA configs are rejected before the model changes', async () => {
    const { e, m } = await pretrained();
    expect(() => e.loraize(m, { r: 11 })).toThrow(/rank r = 11 is larger than layer fc3 \(2000×10\) allows; expected r ≤ 10/);
    expect(() => e.loraize(m, { r: 0 })).toThrow(OptionError);
    expect(() => e.loraize(m, { alpha: NaN })).toThrow(/alpha must be a finite number > 0, got NaN/);
    expect(() => e.loraize(m, { targetModules: ['fc4'] })).toThrow(/unknown target module "fc4"; this model has fc1, fc2, fc3/);
    expect(() => e.loraize(m, { rank: 2 } as never)).toThrow(/unknown LoRA option "rank"/);
    expect(e.modelInfo(m).lora).toBeNull();
    e.loraize(m, { targetModules: ['fc2'] });
    expect(() => e.loraize(m)).toThrow(StateError);
  });
});

describe(`several adapters, merge, state export (${set.name})`, () => {
  it('adapters switch on one frozen base without copying it; each keeps its own training', async () => {
    const { e, d, m } = await pretrained();
    const x = Float32Array.from(images.subarray(0, 20 * 784));
    const hash = await e.frozenHash(m);
    e.loraize(m, { name: 'digit3', r: 2, init: 'reference' });
    await e.train(m, d.id, { steps: 10, batchSize: 32, lr: 1e-3, classes: [3] });
    const p3 = e.predict(m, x, 20);
    e.loraize(m, { name: 'digit8', r: 1, init: 'reference' });
    await e.train(m, d.id, { steps: 10, batchSize: 32, lr: 1e-3, classes: [8] });
    const p8 = e.predict(m, x, 20);
    expect(Array.from(p8)).not.toEqual(Array.from(p3));
    expect(e.setActiveAdapter(m, 'digit3').lora?.name).toBe('digit3');
    expect(Array.from(e.predict(m, x, 20))).toEqual(Array.from(p3));
    e.setActiveAdapter(m, null);
    const base = e.predict(m, x, 20);
    expect(await e.frozenHash(m)).toBe(hash);
    await expect(e.train(m, d.id, { steps: 1 })).rejects.toThrow(/frozen and no adapter is active/);
    expect(e.modelInfo(m).adapters).toEqual(['digit3', 'digit8']);
    e.deleteAdapter(m, 'digit8');
    expect(e.modelInfo(m).adapters).toEqual(['digit3']);
    expect(() => e.loraize(m, { name: 'digit3' })).toThrow(/already has an adapter named "digit3"/);
    expect(() => e.loraize(m, { name: 'a b' })).toThrow(/adapter name must be/);
    expect(Array.from(base)).not.toEqual(Array.from(p3));
  });

  it('merge gives a new model computing W + (α/r)·(B·A)ᵀ and leaves the original untouched', async () => {
    const { e, d, m } = await pretrained();
    e.loraize(m, { r: 2, alpha: 4, init: 'reference' });
    await e.train(m, d.id, { steps: 10, batchSize: 32, lr: 1e-2, classes: [5] });
    const hash = await e.frozenHash(m);
    const x = Float32Array.from(images.subarray(0, 50 * 784));
    const adapted = e.predict(m, x, 50);
    const merged = e.merge(m);
    const w = e.readWeights(m), mw = e.readWeights(merged);
    // Check one entry against the formula directly.
    const [l, i, j] = [1, 17, 123];
    const nIn = 1000, nOut = 2000;
    let delta = 0;
    for (let q = 0; q < 2; q++) delta += w.A[l]![q * nIn + i] * w.B[l]![j * 2 + q];
    expect(mw.W[l][i * nOut + j]).toBeCloseTo(w.W[l][i * nOut + j] + 2 * delta, 6);
    const p = e.predict(merged, x, 50);
    let maxRel = 0;
    for (let q = 0; q < p.length; q++) maxRel = Math.max(maxRel, Math.abs(p[q] - adapted[q]) / (Math.abs(adapted[q]) + 1));
    console.log(`merged vs adapted logits: max relative diff ${maxRel.toExponential(2)}`);
    expect(maxRel).toBeLessThan(1e-4);
    expect(await e.frozenHash(m)).toBe(hash);
    expect(e.modelInfo(merged)).toMatchObject({ frozen: false, adapters: [], lora: null });
    await e.train(merged, d.id, { steps: 1, batchSize: 8 }); // a merged model trains like any base
  });

  it('export → import continues exactly like the uninterrupted model (weights, adapters, Adam, RNG step)', async () => {
    const { e, d, m } = await pretrained();
    e.loraize(m, { name: 'x', r: 2, init: 'peft' });
    await e.train(m, d.id, { steps: 4, batchSize: 32, lr: 1e-3, classes: [1] });
    const snapshot = e.exportState(m);
    await e.train(m, d.id, { steps: 6, batchSize: 32, lr: 1e-3, classes: [1] });
    const e2 = new Engine(await set.make());
    const d2 = e2.addDataset({ images, labels, rowLen: 784 });
    const m2 = e2.importState(snapshot);
    expect(e2.modelInfo(m2)).toEqual({ ...e.modelInfo(m), step: snapshot.step });
    await e2.train(m2, d2.id, { steps: 6, batchSize: 32, lr: 1e-3, classes: [1] });
    const [a, b] = [e.readWeights(m), e2.readWeights(m2)];
    for (const k of ['W', 'A', 'B'] as const) a[k].forEach((v, l) => expect(Array.from(b[k][l] ?? [])).toEqual(Array.from(v ?? [])));
    // Shapes are checked before anything is allocated.
    const bad = { ...snapshot, W: snapshot.W.map((w, l) => (l === 1 ? w.subarray(1) : w)) };
    expect(() => e2.importState(bad)).toThrow(/W2: expected 2000000 values, got 1999999/);
    const badAdam = { ...snapshot, adapters: [{ ...snapshot.adapters[0], adam: { t: 1, m: [], v: [] } }] };
    expect(() => e2.importState(badAdam)).toThrow(/adapter x Adam: expected 6 moment tensors/);
  });
});
