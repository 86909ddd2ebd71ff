// The WebGL kernel set (tfjs WebGL backend, here on SwiftShader: headless Chromium has no GPU)
// against the reference kernels (plain TS, f64 accumulation), in the style of test/kernels.test.ts:
// every comparison prints its max difference. Tolerances, with the reason:
//  - gemm: the f32 dot-product bound |ĉ − c| ≤ γ·Σ|a||b|, γ = (K + 2)·2⁻²⁴. It holds for any
//    summation order and with or without fused multiply-adds, so it covers a GPU that sums in
//    another order (tfjs's packed matMul sums 2 products per step, a GPU may contract to FMA);
//  - ReLU+dropout forward/backward: exact. One comparison and one f32 multiplication per element,
//    and the mask is the project's PRNG computed in the shader: any mismatch is a bug;
//  - gatherRows (on the CPU), gatherRowsF32 and copy (GPU copies): exact;
//  - log-softmax/NLL: computed in f32 on the GPU (the reference in f64), with the GPU's exp/log
//    (GLSL ES 3.00 allows exp 3 + 2·|x| ulps, log 3 ulps): loss within 2⁻¹⁷ per row relative to
//    the row's magnitude (|z_max − z_y| + log Σ + 1), gradient within 2⁻¹⁷·gradScale absolute,
//    argmax exact except on exact ties (GPU reductions may pick either index);
//  - Adam: f32 on the GPU vs f64 rounded to f32, with a GPU sqrt and division (GLSL allows
//    2.5 ulps for division): 8 f32 ulps of the magnitude of the terms each update adds (the Node
//    suite's wasm tolerance is 4).
import { describe, expect, it } from 'vitest';
import type { Buf, Kernels } from '../../src/engine/kernels.js';
import { WebGLKernels } from '../../src/engine/webgl-kernels.js';
import { bits, dropoutThreshold } from '../../src/engine/rng.js';
import { Engine } from '../../src/engine/engine.js';
import { checkAdam, checkGemm, checkReluDropout, put, randomFloats, reference64, report, U } from '../helpers.js';


const SHAPES: [number, number, number][] = [
  [1, 1, 1], [1, 8, 4], [4, 8, 1], [3, 5, 7], [7, 9, 13], [13, 1, 29], [1, 33, 2],
  [31, 17, 300], [130, 37, 260], [5, 300, 513], [64, 10, 2000], [128, 24, 784],
];

let shared: Promise<WebGLKernels> | null = null;
const webgl = () => (shared ??= WebGLKernels.create());

describe('WebGL kernel set vs reference (headless Chromium)', () => {
  it('starts on WebGL2 with float32 render targets and reports the renderer', async () => {
    const k = await webgl();
    console.log(`WebGL device: ${JSON.stringify(k.device)}`);
    expect(k.device.webglVersion).toBe(2);
    expect(k.device.renderer.length).toBeGreaterThan(0);
    // Headless Chromium here renders with SwiftShader (a CPU renderer).
    expect(typeof k.device.software).toBe('boolean');
  });

  it('gemm: all orientations, alpha/beta, ragged shapes, nothing written outside C', async () => {
    const k = await webgl();
    const worst = checkGemm(k, SHAPES);
    console.log(`webgl gemm: ${SHAPES.length * 8} cases, worst error = ${(worst * 100).toFixed(1)} % of the f32 bound`);
    expect(worst).toBeLessThanOrEqual(1);
  });

  it('gemm on a prefix of larger buffers (workspaces), C tail kept', async () => {
    const k = await webgl();
    const r = reference64();
    const [M, N, K] = [5, 7, 9];
    const a = randomFloats(M * K, 501), b = randomFloats(K * N, 502), tail = randomFloats(20, 503);
    const C = k.alloc('f32', M * N + 20);
    k.write(C, tail, M * N);
    k.gemm(false, false, M, N, K, 1, put(k, a, 'f32', 11), put(k, b, 'f32', 3), 0, C);
    const Cr = r.alloc('f32', M * N);
    r.gemm(false, false, M, N, K, 1, put(r, a), put(r, b), 0, Cr);
    const got = k.read(C);
    report('webgl gemm prefix', got.subarray(0, M * N), Float32Array.from(r.raw(Cr)));
    expect(Array.from(got.subarray(M * N))).toEqual(Array.from(tail));
  });

  it('reluDropoutForward / reluDropoutBackward: exact, same mask as the reference', async () => {
    checkReluDropout(await webgl(), 'webgl');
  });

  it('gatherRows, gatherRowsF32, copy, zero, write at an offset: exact', async () => {
    const k = await webgl();
    const r = reference64();
    for (const rowLen of [1, 17, 784]) {
      const count = 50;
      const images = Uint8Array.from({ length: count * rowLen }, (_, i) => bits(3, i) & 255);
      const labels = Uint8Array.from({ length: count }, (_, i) => i % 10);
      const idx = Int32Array.from({ length: 23 }, (_, i) => bits(4, i) % count);
      const scale = Math.fround(1 / 255);
      const out = k.alloc('f32', 23 * rowLen), outL = k.alloc('i32', 23);
      k.gatherRows(put(k, images, 'u8'), put(k, labels, 'u8'), rowLen, put(k, idx, 'i32'), 23, scale, out, outL);
      const rout = r.alloc('f32', 23 * rowLen), routL = r.alloc('i32', 23);
      r.gatherRows(put(r, images, 'u8'), put(r, labels, 'u8'), rowLen, put(r, idx, 'i32'), 23, scale, rout, routL);
      expect(report(`webgl gatherRows rowLen=${rowLen}`, k.read(out), Float32Array.from(r.raw(rout)))).toBe(0);
      expect(Array.from(k.read(outL))).toEqual(Array.from(r.raw(routL)));

      const src = randomFloats(40 * rowLen, rowLen);
      const idx2 = Int32Array.from({ length: 17 }, (_, i) => bits(8, i) % 40);
      const o2 = k.alloc('f32', 17 * rowLen + 5), ro2 = r.alloc('f32', 17 * rowLen + 5);
      k.gatherRowsF32(put(k, src), rowLen, put(k, idx2, 'i32'), 17, o2);
      r.gatherRowsF32(put(r, src), rowLen, put(r, idx2, 'i32'), 17, ro2);
      expect(report(`webgl gatherRowsF32 rowLen=${rowLen}`, k.read(o2), Float32Array.from(r.raw(ro2)))).toBe(0);
    }
    const a = put(k, [1, 2, 3, 4, 5]), b = put(k, [0, 0, 0, 0, 0, 0]);
    k.copy(a, b, 3, 1, 2);
    expect(Array.from(k.read(b))).toEqual([0, 0, 2, 3, 4, 0]);
    expect(() => k.copy(a, b, 5, 1, 0)).toThrow(/outside a buffer of 5/);
    k.copy(a, a, 3, 0, 2); // overlapping: memmove semantics
    expect(Array.from(k.read(a))).toEqual([1, 2, 1, 2, 3]);
    const z = put(k, [1, 2, 3, 4]);
    k.zero(z, 2);
    expect(Array.from(k.read(z))).toEqual([0, 0, 3, 4]);
    k.write(z, [9], 3);
    expect(Array.from(k.read(z, 4))).toEqual([0, 0, 3, 9]);
    const sparse = k.alloc('f32', 6);
    k.write(sparse, [7], 4); // past the written prefix: the gap stays zero
    expect(Array.from(k.read(sparse))).toEqual([0, 0, 0, 0, 7, 0]);
    const i32 = put(k, [5, 6, 7], 'i32');
    const i32b = k.alloc('i32', 4);
    k.copy(i32, i32b, 2, 1, 1);
    expect(Array.from(k.read(i32b))).toEqual([0, 6, 7, 0]);
  });

  it('logSoftmaxNll: loss, gradient and argmax', async () => {
    const k = await webgl();
    const r = reference64();
    let worstLoss = 0, worstGrad = 0;
    for (const [m, n] of [[1, 2], [7, 10], [128, 10], [33, 3]]) {
      const z = randomFloats(m * n, 11 * m + n, -300, 300);
      z[1] = z[0]; // a tie in row 0 (argmax may differ there)
      const labels = Int32Array.from({ length: m }, (_, i) => bits(9, i) % n);
      const g = k.alloc('f32', m * n), am = k.alloc('i32', m);
      const loss = k.logSoftmaxNll(put(k, z), put(k, labels, 'i32'), m, n, g, 1 / m, am);
      const rg = r.alloc('f32', m * n), ram = r.alloc('i32', m);
      const rloss = r.logSoftmaxNll(put(r, z), put(r, labels, 'i32'), m, n, rg, 1 / m, ram);
      // Tolerance of the loss: 2⁻¹⁷ of each row's magnitude.
      let mag = 0;
      for (let i = 0; i < m; i++) {
        let mx = -Infinity;
        for (let j = 0; j < n; j++) mx = Math.max(mx, z[i * n + j]);
        let s = 0;
        for (let j = 0; j < n; j++) s += Math.exp(z[i * n + j] - mx);
        mag += mx - z[i * n + labels[i]] + Math.log(s) + 1;
      }
      const tolLoss = 2 ** -17 * mag;
      console.log(`webgl logSoftmaxNll ${m}×${n}: loss ${loss} vs ${rloss} (|diff| ${Math.abs(loss - rloss).toExponential(2)}, tolerance ${tolLoss.toExponential(2)})`);
      worstLoss = Math.max(worstLoss, Math.abs(loss - rloss) / tolLoss);
      expect(Math.abs(loss - rloss)).toBeLessThanOrEqual(tolLoss);
      const got = k.read(g), want = r.raw(rg);
      const d = report(`webgl logSoftmaxNll grad ${m}×${n}`, got, want);
      worstGrad = Math.max(worstGrad, d / (2 ** -17 / m));
      expect(d).toBeLessThanOrEqual(2 ** -17 / m);
      const gotArg = Array.from(k.read(am)), wantArg = Array.from(r.raw(ram));
      expect(gotArg.slice(1)).toEqual(wantArg.slice(1));
      // Row 0 has a tie between columns 0 and 1: where it is the maximum either index is right.
      if (wantArg[0] <= 1) expect([0, 1]).toContain(gotArg[0]);
      else expect(gotArg[0]).toBe(wantArg[0]);
      expect(k.logSoftmaxNll(put(k, z), null, m, n, null, 0, am)).toBe(0);
    }
    console.log(`webgl logSoftmaxNll: worst loss error ${(worstLoss * 100).toFixed(1)} %, worst gradient error ${(worstGrad * 100).toFixed(1)} % of the tolerance`);
  });

  it('adam: bias-corrected update of w, m, v', async () => {
    const worst = checkAdam(await webgl(), 'webgl', [1, 5, 4096 + 3, 100_000], 8);
    console.log(`webgl adam: worst error = ${(worst * 100).toFixed(1)} % of the bound (8 ulps of the terms)`);
  });

  it('refuses, with the reason, a GPU without float32 render targets', async () => {
    await webgl();
    const tf = await import('@tensorflow/tfjs-core');
    const saved = tf.env().getBool('WEBGL_RENDER_FLOAT32_CAPABLE');
    tf.env().set('WEBGL_RENDER_FLOAT32_CAPABLE', false); // what tfjs finds on such a GPU
    try {
      await expect(WebGLKernels.create()).rejects.toThrow(/cannot render to float32 textures.*16-bit floats/);
    } finally {
      tf.env().set('WEBGL_RENDER_FLOAT32_CAPABLE', saved);
    }
    await expect(WebGLKernels.create()).resolves.toBeInstanceOf(WebGLKernels);
  });

  it('frees what it allocates: no tensor leak over repeated kernels', async () => {
    const k = await webgl();
    const run = () => {
      const a = put(k, randomFloats(64 * 32, 1)), b = put(k, randomFloats(32 * 16, 2)), c = k.alloc('f32', 64 * 16 + 8);
      k.gemm(false, false, 64, 16, 32, 1, a, b, 0, c);
      k.reluDropoutForward(c, 64 * 16, 3, 1000, 1.5);
      const lab = put(k, Array.from({ length: 64 }, (_, i) => i % 16), 'i32');
      const g = k.alloc('f32', 64 * 16);
      k.logSoftmaxNll(c, lab, 64, 16, g, 1 / 64, null);
      const m = k.alloc('f32', 64 * 16), v = k.alloc('f32', 64 * 16);
      k.adam(c, g, m, v, 64 * 16, 1e-3, 0.9, 0.999, 1e-8, 1);
      for (const x of [a, b, c, lab, g, m, v]) k.free(x);
    };
    run();
    const before = k.memory();
    for (let i = 0; i < 5; i++) run();
    const after = k.memory();
    console.log(`webgl tensors before/after 5 rounds: ${before.numTensors}/${after.numTensors}`);
    expect(after.numTensors).toBe(before.numTensors);
  });

  it('whole training steps (full, then LoRA, then evaluation) leak no tensors', async () => {
    const k = await webgl();
    const e = new Engine(k);
    expect(e.getInfo().backend).toBe('webgl');
    const n = 300, images = Uint8Array.from({ length: n * 20 }, (_, i) => bits(21, i) & 255);
    const ds = e.addDataset({ images, labels: Uint8Array.from({ length: n }, (_, i) => i % 4), rowLen: 20, numClasses: 4 });
    const id = e.createMlp({ layers: [20, 16, 8, 4], dropout: 0.2, seed: 3 });
    await e.train(id, ds.id, { steps: 2, batchSize: 32, lr: 1e-3 });
    const t0 = k.memory().numTensors;
    await e.train(id, ds.id, { steps: 10, batchSize: 32, lr: 1e-3 });
    expect(k.memory().numTensors).toBe(t0);
    e.loraize(id, { r: 2 });
    e.evaluate(id, ds.id, 64);
    await e.train(id, ds.id, { steps: 2, batchSize: 32, lr: 1e-3 });
    e.evaluate(id, ds.id, 64);
    const t1 = k.memory().numTensors;
    await e.train(id, ds.id, { steps: 10, batchSize: 32, lr: 1e-3 });
    e.evaluate(id, ds.id, 64);
    console.log(`webgl tensors: ${t0} after full steps, ${t1} → ${k.memory().numTensors} over 10 LoRA steps + an evaluation`);
    expect(k.memory().numTensors).toBe(t1);
  });
});
