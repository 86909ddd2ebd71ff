// The trade-off tools: a stratified validation split, the validation curve during fine-tuning,
// early stopping that restores the best adapter bit for bit, and replay of other classes.
import { describe, expect, it } from 'vitest';
import { Engine } from '../src/engine/engine.js';
import { sampleBatch, stratifiedSplit } from '../src/engine/sampling.js';
import { loadMnist } from '../src/mnist-node.js';
import { fastKernelSets } from './helpers.js';

const mnist = await loadMnist();
const N = 6000;
const images = mnist.train.images.subarray(0, N * 784), labels = mnist.train.labels.subarray(0, N);
const set = fastKernelSets().at(-1)!;

describe('validation split', () => {
  it('is stratified, disjoint, complete and seeded', () => {
    const { train, validation } = stratifiedSplit(labels, 10, 0.1, 7);
    expect(train.length + validation.length).toBe(N);
    const all = new Set([...train, ...validation]);
    expect(all.size).toBe(N); // no overlap, nothing lost
    for (let c = 0; c < 10; c++) {
      const total = labels.filter((l) => l === c).length;
      const inVal = Array.from(validation).filter((i) => labels[i] === c).length;
      expect(inVal).toBe(Math.round(0.1 * total));
    }
    expect(Array.from(stratifiedSplit(labels, 10, 0.1, 7).validation)).toEqual(Array.from(validation));
    expect(Array.from(stratifiedSplit(labels, 10, 0.1, 8).validation)).not.toEqual(Array.from(validation));
  });

  it('gives two views of the same pixels in the engine, and refuses overlapping validation', async () => {
    const e = new Engine(await set.make());
    const d = e.addDataset({ images, labels, rowLen: 784 });
    const { train, validation } = e.splitDataset(d.id, 0.2, 1);
    expect(train.count + validation.count).toBe(N);
    expect(train.classCounts.map((c, i) => c + validation.classCounts[i])).toEqual(d.classCounts);
    const m = e.createMlp({ layers: [784, 32, 10] });
    await expect(e.train(m, d.id, { steps: 1, validation: { dataset: validation.id, every: 1 } })).rejects.toThrow(/shares images with the training dataset/);
    expect(() => e.splitDataset(d.id, 1)).toThrow(/validation fraction must be > 0 and < 1, got 1/);
    e.removeDataset(d.id); // the views keep the pixels alive
    const r = await e.train(m, train.id, { steps: 2, validation: { dataset: validation.id, every: 1 } });
    expect(r.curve).toHaveLength(3);
  });
});

describe('replay', () => {
  it('puts exactly round(f·b) rows of other classes at the end of every batch', () => {
    const pool = Int32Array.from([0, 2, 4, 6]), other = Int32Array.from([1, 3, 5]);
    const rows = new Int32Array(10), pos = new Int32Array(10);
    for (let step = 0; step < 50; step++) {
      sampleBatch(pool, other, 10, 3, 1000 + step, rows, pos);
      expect(Array.from(rows.subarray(0, 7)).every((r) => pool.includes(r))).toBe(true);
      expect(Array.from(rows.subarray(7)).every((r) => other.includes(r))).toBe(true);
      for (let i = 0; i < 7; i++) expect(pool[pos[i]]).toBe(rows[i]);
    }
  });
});

async function finetuneSetup() {
  const e = new Engine(await set.make());
  const d = e.addDataset({ images, labels, rowLen: 784 });
  const { train, validation } = e.splitDataset(d.id, 0.2, 3);
  const m = e.createMlp({ seed: 2 });
  await e.train(m, train.id, { steps: 25, batchSize: 64 });
  e.loraize(m, { r: 2, init: 'reference' });
  return { e, train, validation, m };
}

describe('validation curve and early stopping', () => {
  it('evaluates before the first step and every N steps; the last point equals a direct evaluation', async () => {
    const { e, train, validation, m } = await finetuneSetup();
    const seen: number[] = [];
    const r = await e.train(m, train.id, { steps: 20, batchSize: 64, lr: 1e-3, classes: [8], validation: { dataset: validation.id, every: 5 } }, 0,
      (p) => { if (p.validation) seen.push(p.validation.step); });
    expect(r.curve.map((p) => p.step)).toEqual([0, 5, 10, 15, 20]);
    expect(seen).toEqual([5, 10, 15, 20]);
    const ev = e.evaluate(m, validation.id);
    const last = r.curve.at(-1)!;
    expect(last.targetErrors).toBe(ev.mislabeled[8]);
    expect(last.otherErrors).toBe(ev.mislabeled.reduce((a, x) => a + x, 0) - ev.mislabeled[8]);
    expect(last.accuracy).toBe(ev.accuracy);
    expect(r.best).toBeNull();
  });

  it('stops when the target class stops improving and restores the best adapter bit for bit', async () => {
    const a = await finetuneSetup();
    // A high learning rate over-fine-tunes quickly: the other classes' errors rise.
    const opts = { batchSize: 64, lr: 5e-5, classes: [8] };
    const r = await a.e.train(a.m, a.train.id, { ...opts, steps: 300, validation: { dataset: a.validation.id, every: 5 }, earlyStopping: { patience: 3, tolerance: 20 } });
    console.log(`early stopping: best ${JSON.stringify(r.best)}, ran ${r.steps} steps, curve ${r.curve.map((p) => `${p.step}:${p.targetErrors}/${p.otherErrors}`).join(' ')}`);
    expect(r.stoppedEarly).toBe(true);
    expect(r.aborted).toBe(false);
    const best = r.best!;
    expect(best.step).toBeGreaterThan(0); // a point inside the run, not the starting adapter
    expect(best.otherErrors).toBeLessThanOrEqual(r.curve[0].otherErrors + 20);
    for (const p of r.curve) if (p.otherErrors <= r.curve[0].otherErrors + 20) expect(p.targetErrors).toBeGreaterThanOrEqual(best.targetErrors);
    // An identical run of exactly best.step steps gives the same adapter.
    const b = await finetuneSetup();
    await b.e.train(b.m, b.train.id, { ...opts, steps: best.step });
    const [wa, wb] = [a.e.readWeights(a.m), b.e.readWeights(b.m)];
    for (const key of ['A', 'B'] as const) wa[key].forEach((x, l) => expect(Array.from(x!)).toEqual(Array.from(wb[key][l]!)));
    expect(a.e.evaluate(a.m, a.validation.id).mislabeled[8]).toBe(best.targetErrors);
    // Exported Adam state matches too (t and moments of the best point).
    const [sa, sb] = [a.e.exportState(a.m), b.e.exportState(b.m)];
    expect(sa.adapters[0].adam!.t).toBe(sb.adapters[0].adam!.t);
    expect(Array.from(sa.adapters[0].adam!.m[0])).toEqual(Array.from(sb.adapters[0].adam!.m[0]));
  });

  it('rejects inconsistent options', async () => {
    const { e, train, validation, m } = await finetuneSetup();
    await expect(e.train(m, train.id, { steps: 5, earlyStopping: { patience: 2 } })).rejects.toThrow(/earlyStopping needs a validation dataset/);
    await expect(e.train(m, train.id, { steps: 5, replay: 0.5 })).rejects.toThrow(/replay .* needs `classes`/);
    await expect(e.train(m, train.id, { steps: 5, classes: [1], replay: 1 })).rejects.toThrow(/replay must be ≥ 0 and < 1, got 1/);
    await expect(e.train(m, train.id, { steps: 5, validation: { dataset: validation.id, every: 0 } })).rejects.toThrow(/validation.every must be ≥ 1/);
    const r = await e.train(m, train.id, { steps: 4, batchSize: 32, classes: [1], replay: 0.25 });
    expect(r.steps).toBe(4);
  });
});

describe('curve chart', () => {
  it('draws one point per evaluation for both series and marks the best step', async () => {
    const { curveSvg } = await import('../src/plot.js');
    const curve = [0, 20, 40, 60].map((step, i) => ({ step, targetErrors: 80 - 20 * i, otherErrors: 270 + 5 * i, accuracy: 0.9, loss: 0.3 }));
    const svg = curveSvg(curve, { targetClass: 9, best: curve[2], title: 'seed <0>' });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    const polylines = [...svg.matchAll(/<polyline [^>]*points="([^"]+)"/g)].map((m) => m[1].split(' ').length);
    expect(polylines).toEqual([4, 4]);
    expect(svg).toContain('best: step 40');
    expect(svg).toContain('class 9');
    expect(svg).toContain('seed &lt;0&gt;');
  });
});
