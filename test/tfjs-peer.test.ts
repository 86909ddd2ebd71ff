// The TensorFlow.js peer of the benchmark (bench/peers/tfjs-peer.ts) computes what wasm-lora
// computes: same weights and batch in, same logits, same Adam step (full and LoRA) out, on both
// tfjs backends. The reference side is wasm-lora's step program on the reference kernels (f32),
// driven directly so that both sides see exactly the same batch (Engine.train draws its own).
//
// Tolerances (both sides round to f32, in different orders):
//  - logits: |tfjs − ours| ≤ 1e-4 · max|ours| elementwise;
//  - loss of a step: 1e-5 relative;
//  - weights after one Adam step: Adam's first step moves every weight by lr·g/(|g| + ε) ≈ ±lr
//    whatever |g| is, so a weight whose gradient is at rounding-noise level can flip. Every
//    weight must be within lr·1e-3 of ours, except at most 1 % of a matrix (and ≥ 1 allowed),
//    which must still be within 2·lr.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initTfjs, TfjsMlp, type TfjsBackend } from '../bench/peers/tfjs-peer.js';
import { ReferenceKernels } from '../src/engine/reference-kernels.js';
import {
  adamStep, allocGrads, backward, createAdam, createWorkspace, forward, gradList, lossAndGrad,
  trainableParams, type ModelState,
} from '../src/engine/step.js';
import { bits } from '../src/engine/rng.js';
import { randomFloats } from './helpers.js';

const SIZES = [20, 16, 12, 10];
const N = 5;
const R = 2, ALPHA = 3;
const LR = 1e-3;
const L = SIZES.length - 1;

// Init like createMlp (uniform(−1, 1)/√(in·out)), raw 0..255 "pixels".
const W0 = SIZES.slice(0, -1).map((nIn, l) => randomFloats(nIn * SIZES[l + 1], 100 + l).map((v) => v / Math.sqrt(nIn * SIZES[l + 1])));
const A0 = SIZES.slice(0, -1).map((nIn, l) => randomFloats(R * nIn, 200 + l, -0.2, 0.2));
const B0 = SIZES.slice(0, -1).map((_, l) => randomFloats(SIZES[l + 1] * R, 300 + l, -0.5, 0.5));
const X = randomFloats(N * SIZES[0], 400, 0, 256).map(Math.floor);
const Y = Int32Array.from({ length: N }, (_, i) => bits(401, i) % SIZES[L]);

/** wasm-lora's step program on the f32 reference kernels, dropout 0. */
function ours(lora: boolean) {
  const k = new ReferenceKernels('f32');
  const buf = (v: Float32Array) => { const b = k.alloc('f32', v.length); k.write(b, v); return b; };
  const m: ModelState = { sizes: SIZES, dropout: 0, seed: 0, W: W0.map(buf), lora: null, step: 0 };
  if (lora) m.lora = { r: R, alpha: ALPHA, scale: ALPHA / R, A: A0.map(buf), B: B0.map(buf) };
  const ws = createWorkspace(k, m, N);
  k.write(ws.x, X);
  k.write(ws.labels, Y);
  forward(k, m, ws, N, null);
  const logits = k.read(ws.h[L]) as Float32Array;
  return {
    logits,
    step() {
      const loss = lossAndGrad(k, m, ws, N);
      const grads = allocGrads(k, m);
      backward(k, m, ws, N, null, grads, lora ? 'lora' : 'full');
      const params = trainableParams(m);
      adamStep(k, params, gradList(m, grads), createAdam(k, params), { lr: LR, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
      const read = (b: typeof m.W[number]) => k.read(b) as Float32Array;
      return { loss, W: m.W.map(read), A: m.lora?.A.map((a) => read(a!)) ?? [], B: m.lora?.B.map((b) => read(b!)) ?? [] };
    },
  };
}

function compareStep(label: string, got: Float32Array, want: Float32Array) {
  expect(got.length).toBe(want.length);
  let max = 0, outliers = 0;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    max = Math.max(max, d);
    if (d > LR * 1e-3) {
      outliers++;
      expect(d).toBeLessThanOrEqual(2 * LR);
    }
  }
  console.log(`${label}: max |diff| = ${max.toExponential(3)}, ${outliers} of ${got.length} beyond lr·1e-3`);
  expect(outliers).toBeLessThanOrEqual(Math.max(1, Math.floor(got.length * 0.01)));
}

const bitEqual = (a: Float32Array, b: Float32Array) =>
  a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;

for (const backend of ['wasm', 'cpu'] as TfjsBackend[]) {
  describe(`tfjs-${backend} peer vs wasm-lora's step program`, () => {
    const live: TfjsMlp[] = [];
    const mlp = (dropout = 0) => { const p = new TfjsMlp(SIZES, W0, { dropout, lr: LR }); live.push(p); return p; };
    beforeAll(async () => {
      const info = await initTfjs(backend);
      console.log(`tfjs ${backend}:`, JSON.stringify(info));
      expect(info.backend).toBe(backend);
    });
    afterAll(() => { for (const p of live) p.dispose(); });

    it('eval-mode logits match within 1e-4 relative', () => {
      const want = ours(false).logits;
      const got = mlp(0.3).forward(X, N); // eval mode: dropout off whatever the rate
      const scale = Math.max(...want.map(Math.abs));
      let max = 0;
      for (let i = 0; i < want.length; i++) max = Math.max(max, Math.abs(got[i] - want[i]));
      console.log(`${backend} logits: max |diff| = ${max.toExponential(3)} (max |logit| ${scale.toFixed(3)})`);
      expect(max).toBeLessThanOrEqual(1e-4 * scale);
    });

    it('one full Adam step (dropout 0): same loss and weights', () => {
      const want = ours(false).step();
      const p = mlp();
      const loss = p.trainStep(X, Y, N);
      console.log(`${backend} full step loss ${loss} vs ours ${want.loss}`);
      expect(Math.abs(loss - want.loss)).toBeLessThanOrEqual(1e-5 * Math.abs(want.loss));
      const w = p.weights();
      w.W.forEach((got, l) => compareStep(`${backend} W${l + 1}`, got, want.W[l]));
    });

    it('one LoRA step (dropout 0, B ≠ 0): moves only A and B, same as ours', () => {
      const want = ours(true).step();
      const p = mlp();
      p.loraize(R, ALPHA, A0, B0, LR);
      const loss = p.loraStep(X, Y, N);
      console.log(`${backend} LoRA step loss ${loss} vs ours ${want.loss}`);
      expect(Math.abs(loss - want.loss)).toBeLessThanOrEqual(1e-5 * Math.abs(want.loss));
      const w = p.weights();
      w.W.forEach((got, l) => expect(bitEqual(got, W0[l]), `W${l + 1} bit-identical`).toBe(true));
      w.A.forEach((got, l) => compareStep(`${backend} A${l + 1}`, got, want.A[l]));
      w.B.forEach((got, l) => compareStep(`${backend} B${l + 1}`, got, want.B[l]));
      // Every adapter moved (Adam's first step is ≈ ±lr wherever the gradient is non-zero).
      w.A.forEach((got, l) => expect(bitEqual(got, A0[l])).toBe(false));
      w.B.forEach((got, l) => expect(bitEqual(got, B0[l])).toBe(false));
    });

    it('no tensor leak across 20 steps (full and LoRA, dropout 0.3) and after dispose', () => {
      const before = mlp(0).numTensors();
      const p = new TfjsMlp(SIZES, W0, { dropout: 0.3, lr: LR });
      p.trainStep(X, Y, N); // the first step creates Adam's moments
      const afterFirst = p.numTensors();
      for (let i = 0; i < 20; i++) expect(Number.isFinite(p.trainStep(X, Y, N))).toBe(true);
      p.forward(X, N);
      p.evaluate(X, Uint8Array.from(Y), N, 2);
      expect(p.numTensors()).toBe(afterFirst);
      p.loraize(R, ALPHA, A0, B0);
      p.loraStep(X, Y, N);
      const afterLora = p.numTensors();
      for (let i = 0; i < 20; i++) expect(Number.isFinite(p.loraStep(X, Y, N))).toBe(true);
      p.evaluate(X, Uint8Array.from(Y), N);
      expect(p.numTensors()).toBe(afterLora);
      console.log(`${backend} tensors: ${before} before, ${afterFirst} after the first step, ${afterLora} with adapters`);
      p.dispose();
      expect(p.numTensors()).toBe(before);
    });
  });
}
