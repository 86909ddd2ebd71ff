// Threaded kernels: products split across kernel threads on shared memory give bit-identical
// results to one thread (each element of C is computed by the same operations whatever the
// split), and whole training runs do too.
import { describe, expect, it } from 'vitest';
import { Engine } from '../src/engine/engine.js';
import { WasmKernels } from '../src/engine/wasm-kernels.js';
import { compileKernels } from '../src/engine/wasm-loader.js';
import { loadMnist } from '../src/mnist-node.js';
import { spawnKernelThread } from '../workers/node-threads.js';
import { randomFloats } from './helpers.js';

const platform = (cores: number) => ({ cores, spawnThread: spawnKernelThread });

describe('kernel threads', () => {
  it('gemm on 3 threads equals gemm on 1 thread, bit for bit, for N-splits, M-splits and small products', async () => {
    const one = await WasmKernels.create(await compileKernels('relaxed'), 'relaxed');
    const three = await WasmKernels.create(await compileKernels('relaxed', true), 'relaxed', { threads: 3, spawnThread: spawnKernelThread });
    try {
      expect(three.threads).toBe(3);
      const shapes: [number, number, number][] = [[128, 2000, 1000], [128, 1000, 2000], [1000, 2000, 128], [784, 1000, 128], [1000, 10, 2000], [13, 7, 5], [130, 97, 300], [128, 1, 784]];
      let seed = 1;
      for (const [M, N, K] of shapes) {
        for (const [tA, tB] of [[false, false], [false, true], [true, false]] as const) {
          const a = randomFloats(M * K, seed++), b = randomFloats(K * N, seed++), c = randomFloats(M * N, seed++);
          const out = [one, three].map((k) => {
            const C = k.alloc('f32', M * N);
            k.write(C, c);
            const A = k.alloc('f32', M * K), B = k.alloc('f32', K * N);
            k.write(A, a);
            k.write(B, b);
            k.gemm(tA, tB, M, N, K, 0.5, A, B, 1, C);
            const r = k.read(C);
            for (const x of [A, B, C]) k.free(x);
            return r;
          });
          expect(Buffer.compare(Buffer.from(out[0].buffer), Buffer.from(out[1].buffer)), `${M}×${N}×${K} tA=${tA} tB=${tB}`).toBe(0);
        }
      }
    } finally {
      three.close();
    }
  });

  it('training with 2 threads gives exactly the 1-thread weights, pre-training and LoRA', async () => {
    const { train } = await loadMnist();
    const images = train.images.subarray(0, 2000 * 784), labels = train.labels.subarray(0, 2000);
    const run = async (threads: number) => {
      const e = new Engine(undefined, platform(threads));
      const info = await e.init({ threads });
      const d = e.addDataset({ images, labels, rowLen: 784 });
      const m = e.createMlp({ seed: 3 });
      await e.train(m, d.id, { steps: 4, batchSize: 64 });
      e.loraize(m, { r: 2, init: 'reference' });
      await e.train(m, d.id, { steps: 4, batchSize: 64, lr: 1e-3 });
      const w = e.readWeights(m);
      const ev = e.evaluate(m, d.id);
      e.close();
      return { info, w, ev };
    };
    const [a, b] = [await run(1), await run(2)];
    expect(a.info.threads).toBe(1);
    expect(b.info.threads).toBe(2);
    for (const key of ['W', 'A', 'B'] as const) {
      a.w[key].forEach((x, l) => expect(Array.from(b.w[key][l]!)).toEqual(Array.from(x!)));
    }
    expect(Array.from(b.ev.predictions)).toEqual(Array.from(a.ev.predictions));
  });

  it('falls back to one thread, and says why, where threads cannot start', async () => {
    const e = new Engine(undefined, { cores: 4 });
    const info = await e.init({ threads: 'auto' });
    expect(info.threads).toBe(1);
    expect(info.note).toMatch(/4 threads asked, 1 used: this platform cannot start kernel threads/);
    await expect(new Engine().init({ threads: 0 })).rejects.toThrow(/threads must be ≥ 1 and ≤ 256, got 0/);
  });
});

describe('LoRA shortcuts', () => {
  it('the cached first-layer product gives exactly the uncached training and evaluation', async () => {
    const { train, test } = await loadMnist();
    const run = async (cacheBytes: number) => {
      const e = new Engine(undefined, platform(1));
      await e.init({ threads: 1, cacheBytes });
      const d = e.addDataset({ images: train.images.subarray(0, 3000 * 784), labels: train.labels.subarray(0, 3000), rowLen: 784 });
      const t = e.addDataset({ images: test.images.subarray(0, 1500 * 784), labels: test.labels.subarray(0, 1500), rowLen: 784 });
      const m = e.createMlp({ seed: 5 });
      await e.train(m, d.id, { steps: 3, batchSize: 64 });
      const before = e.evaluate(m, t.id, 512);
      e.loraize(m, { r: 2, init: 'reference' });
      await e.train(m, d.id, { steps: 6, batchSize: 64, lr: 1e-3, classes: [3] });
      await e.train(m, d.id, { steps: 2, batchSize: 64, lr: 1e-3 }); // all classes: another cache
      const after = e.evaluate(m, t.id, 512);
      const again = e.evaluate(m, t.id, 512);
      return { w: e.readWeights(m), before, after, again, caches: e.cacheStats(m) };
    };
    const [plain, cached] = [await run(0), await run(128 << 20)];
    expect(plain.caches).toEqual([]);
    // Cached: the fine-tuning pool of class 3, all 3,000 rows, and the test set.
    expect(cached.caches.map((c) => [c.rows, c.valid]).sort()).toEqual([[1500, true], [3000, true], [train.labels.subarray(0, 3000).filter((l) => l === 3).length, true]].sort());
    for (const key of ['A', 'B'] as const) plain.w[key].forEach((x, l) => expect(Array.from(cached.w[key][l]!)).toEqual(Array.from(x!)));
    expect(cached.before.loss).toBe(plain.before.loss);
    expect(cached.after.loss).toBe(plain.after.loss);
    expect(cached.again.loss).toBe(plain.after.loss);
    expect(Array.from(cached.after.predictions)).toEqual(Array.from(plain.after.predictions));
  });
});
