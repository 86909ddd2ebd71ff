// The step program's backward passes against finite differences, everything in f64 (the
// reference kernel set with Float64Array storage), with dropout on. Also pins down what the
// LoRA-only backward does NOT compute: no ∂W, no input gradient for the lowest adapted layer,
// and never a dense in×out product of the factors.
import { describe, expect, it } from 'vitest';
import type { Buf, Kernels } from '../src/engine/kernels.js';
import { ReferenceKernels } from '../src/engine/reference-kernels.js';
import {
  allocGrads, backward, createWorkspace, dropoutPlan, forward, lossAndGrad, type ModelState, type Workspace,
} from '../src/engine/step.js';
import { bits } from '../src/engine/rng.js';
import { randomFloats } from './helpers.js';

const SIZES = [6, 9, 7, 5];
const BATCH = 4;

function setup(k: ReferenceKernels, lora: 'none' | number[]) {
  const buf = (n: number, key: number, scale: number) => {
    const b = k.alloc('f32', n);
    k.write(b, Array.from(randomFloats(n, key), (v) => v * scale));
    return b;
  };
  const W = SIZES.slice(0, -1).map((nIn, l) => buf(nIn * SIZES[l + 1], 10 + l, 0.8));
  const m: ModelState = { sizes: SIZES, dropout: 0.25, seed: 3, W, lora: null, step: 5 };
  if (lora !== 'none') {
    const r = 2;
    m.lora = {
      r, alpha: 3, scale: 1.5,
      // B non-zero so that ∂A is non-zero too.
      A: SIZES.slice(0, -1).map((nIn, l) => (lora.includes(l) ? buf(r * nIn, 20 + l, 0.5) : null)),
      B: SIZES.slice(0, -1).map((_, l) => (lora.includes(l) ? buf(SIZES[l + 1] * r, 30 + l, 0.5) : null)),
    };
  }
  const ws = createWorkspace(k, m, BATCH);
  k.write(ws.x, randomFloats(BATCH * SIZES[0], 40, 0, 2));
  k.write(ws.labels, Int32Array.from({ length: BATCH }, (_, i) => bits(41, i) % SIZES[SIZES.length - 1]));
  return { m, ws };
}

function loss(k: Kernels, m: ModelState, ws: Workspace): number {
  const drop = dropoutPlan(m, m.step);
  forward(k, m, ws, BATCH, drop);
  return lossAndGrad(k, m, ws, BATCH);
}

/** Central differences on a sample of entries of `param`, compared with `grad`. */
function checkParam(k: ReferenceKernels, m: ModelState, ws: Workspace, label: string, param: Buf, grad: Buf): number {
  const p = k.raw(param) as Float64Array, g = k.raw(grad) as Float64Array;
  const h = 1e-6;
  let worst = 0, nonzero = 0;
  for (let i = 0; i < p.length; i += Math.max(1, Math.floor(p.length / 25))) {
    const keep = p[i];
    p[i] = keep + h;
    const up = loss(k, m, ws);
    p[i] = keep - h;
    const down = loss(k, m, ws);
    p[i] = keep;
    const fd = (up - down) / (2 * h);
    const err = Math.abs(fd - g[i]) / Math.max(1e-3, Math.abs(fd) + Math.abs(g[i]));
    worst = Math.max(worst, err);
    if (g[i] !== 0) nonzero++;
  }
  console.log(`${label}: worst relative error vs finite differences ${worst.toExponential(2)}, ${nonzero} non-zero sampled`);
  expect(nonzero).toBeGreaterThan(0);
  return worst;
}

describe('backward vs finite differences (f64)', () => {
  it('full backward: ∂loss/∂W of every layer', () => {
    const k = new ReferenceKernels('f64');
    const { m, ws } = setup(k, 'none');
    const grads = allocGrads(k, m);
    loss(k, m, ws);
    backward(k, m, ws, BATCH, dropoutPlan(m, m.step), grads, 'full');
    m.W.forEach((w, l) => expect(checkParam(k, m, ws, `∂W${l + 1}`, w, grads.W![l])).toBeLessThan(1e-6));
  });

  it('LoRA-only backward: ∂A, ∂B of adapted layers (fc1 and fc3 adapted, fc2 not)', () => {
    const k = new ReferenceKernels('f64');
    const { m, ws } = setup(k, [0, 2]);
    const grads = allocGrads(k, m);
    expect(grads.W).toBeNull();
    loss(k, m, ws);
    backward(k, m, ws, BATCH, dropoutPlan(m, m.step), grads, 'lora');
    for (const l of [0, 2]) {
      expect(checkParam(k, m, ws, `∂A${l + 1}`, m.lora!.A[l]!, grads.A[l]!)).toBeLessThan(1e-6);
      expect(checkParam(k, m, ws, `∂B${l + 1}`, m.lora!.B[l]!, grads.B[l]!)).toBeLessThan(1e-6);
    }
    expect(grads.A[1]).toBeNull();
  });
});

/** Records the shapes of every gemm (and which buffer it writes) without changing results. */
function recording(k: Kernels) {
  const calls: { M: number; N: number; K: number; C: Buf }[] = [];
  const rec = Object.create(k) as Kernels;
  rec.gemm = (tA, tB, M, N, K, alpha, A, B, beta, C) => {
    calls.push({ M, N, K, C });
    k.gemm(tA, tB, M, N, K, alpha, A, B, beta, C);
  };
  return { rec, calls };
}

describe('what the LoRA-only backward computes', () => {
  for (const adapted of [[0, 1, 2], [1, 2], [2]]) {
    it(`adapters on ${adapted.map((l) => `fc${l + 1}`).join(',')}: no ∂W, no dense B·A, nothing below the lowest adapter`, () => {
      const k = new ReferenceKernels('f64');
      const { m, ws } = setup(k, adapted);
      const grads = allocGrads(k, m);
      const { rec, calls } = recording(k);
      const drop = dropoutPlan(m, m.step);
      forward(rec, m, ws, BATCH, drop);
      lossAndGrad(rec, m, ws, BATCH);
      const forwardCalls = calls.length;
      backward(rec, m, ws, BATCH, drop, grads, 'lora');
      const back = calls.slice(forwardCalls);
      // Per adapted layer: ∂B, ĝu, ∂A; per layer above the lowest adapter: ∂h (+ ĝu·A if adapted).
      const lowest = Math.min(...adapted);
      const L = SIZES.length - 1;
      let expected = 0;
      for (let l = L - 1; l >= lowest; l--) {
        if (adapted.includes(l)) expected += 3;
        if (l > lowest) expected += adapted.includes(l) ? 2 : 1;
      }
      expect(back.length).toBe(expected);
      for (const c of calls) {
        for (let l = 0; l < L; l++) {
          // No product has the shape of a weight matrix (no ∂W, no dense B·A or its transpose).
          const [nIn, nOut] = [SIZES[l], SIZES[l + 1]];
          expect((c.M === nIn && c.N === nOut) || (c.M === nOut && c.N === nIn)).toBe(false);
        }
      }
      // No input gradient of the lowest adapted layer: nothing of width SIZES[lowest] is written to ws.g.
      for (const c of back) expect(ws.g.includes(c.C) && c.N === SIZES[lowest]).toBe(false);
    });
  }
});
