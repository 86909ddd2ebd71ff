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
