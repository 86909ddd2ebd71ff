// Every wasm kernel against the reference kernels (plain TS, f64 accumulation), on random shapes
// that include ragged tails (sizes that are not multiples of the 4×8 tile, K across the 256 block,
// M across the 128 block) and the skinny LoRA shapes (r = 1..8), which take their own loops. Tolerances per op, with the reason:
//  - gemm: the classic bound for an f32 dot product of length K, |ĉ − c| ≤ γ·Σ|a||b| with
//    γ = (K + 2)·2⁻²⁴ (K roundings of the sum, one for alpha, one for beta·C);
//  - element-wise ops that do the same f32 operations as the reference: exact;
//  - log-softmax/NLL: f64 math in both (exp/log implementations may differ in the last bit):
//    1e-12 relative on the loss, one f32 ulp on the gradient, argmax exact;
//  - Adam: f32 arithmetic vs f64 then rounded: 4 f32 ulps of the magnitude of the terms added.
import { describe, expect, it } from 'vitest';
import { bits, dropoutThreshold, uniform } from '../src/engine/rng.js';
import { checkAdam, checkGemm, checkReluDropout, fastKernelSets, put, randomFloats, reference64, report, U } from './helpers.js';


const SHAPES: [number, number, number][] = [
  [1, 1, 1], [1, 8, 4], [4, 8, 1], [3, 5, 7], [7, 9, 13], [8, 16, 8], [13, 1, 29], [1, 33, 2],
  [31, 17, 300], [130, 37, 260], [5, 300, 513], [257, 9, 20], [64, 10, 2000], [128, 24, 784],
  // LoRA factor shapes (the skinny loops): u = h·Aᵀ, ∂B = s·gᵀ·u, ∂A = ĝuᵀ·h, z += s·u·Bᵀ, …
  [128, 1, 784], [2000, 2, 128], [1, 2000, 128], [128, 2000, 1], [3, 784, 128], [128, 13, 4], [7, 3, 9],
];

for (const set of fastKernelSets()) {
  describe(`${set.name} vs reference`, () => {
    it('gemm: all orientations, alpha/beta, ragged shapes, exact writes only inside C', async () => {
      const k = await set.make();
      const worst = checkGemm(k, SHAPES);
      // Zero columns of op(A) (dead ReLU units) are skipped by the packed kernel: still exact.
      const worstZero = checkGemm(k, SHAPES, true);
      console.log(`${set.name} gemm with zero columns: worst error = ${(worstZero * 100).toFixed(1)} % of the f32 bound`);
      console.log(`${set.name} gemm: ${SHAPES.length * 8} cases, worst error = ${(worst * 100).toFixed(1)} % of the f32 bound`);
      expect(worst).toBeLessThanOrEqual(1);
    });

    it('gemm with skipColumnsOf: columns of dead units skipped, every other column bit-identical', async () => {
      const k = await set.make();
      for (const [M, N, K, dead] of [[128, 1000, 2000, 0.9], [64, 200, 300, 0.5], [33, 64, 520, 1], [128, 40, 600, 0.05]] as const) {
        for (const beta of [0, 1] as const) {
          const a = randomFloats(M * K, M + N), b = randomFloats(N * K, K), c0 = randomFloats(M * N, 3);
          // The mask: ReLU outputs, whole columns 0 for dead units, scattered zeros elsewhere.
          const h = randomFloats(M * N, 4, -1, 1).map((v, i) => (uniform(5, i % N) < dead || v < 0 ? 0 : v));
          const dense = put(k, c0), masked = put(k, c0);
          const [A, B, H] = [put(k, a), put(k, b), put(k, h)];
          k.gemm(false, true, M, N, K, 1, A, B, beta, dense);
          k.gemm(false, true, M, N, K, 1, A, B, beta, masked, H);
          const [d, m] = [k.read(dense), k.read(masked)];
          let skipped = 0;
          for (let j = 0; j < N; j++) {
            let live = false;
            for (let i = 0; i < M; i++) if (h[i * N + j] !== 0) live = true;
            if (!live) skipped++;
            for (let i = 0; i < M; i++) {
              // A skipped column may also be computed (the hint is optional; below 1/8 dead the kernel runs dense).
              const want = live || m[i * N + j] === d[i * N + j] ? d[i * N + j] : beta ? c0[i * N + j] : 0;
              if (m[i * N + j] !== want) throw new Error(`${M}×${N}×${K} beta ${beta}: C[${i}][${j}] = ${m[i * N + j]}, expected ${want} (column ${live ? 'live' : 'skipped'})`);
            }
          }
          if (dead >= 0.5) {
            expect(skipped).toBeGreaterThan(0);
            // Where most units are dead the kernel did skip them.
            let zeros = 0;
            for (let j = 0; j < N; j++) if (m[j] === (beta ? c0[j] : 0) && m[j] !== d[j]) zeros++;
            expect(zeros).toBeGreaterThan(0);
          }
        }
      }
    });

    it('reluDropoutForward / reluDropoutBackward: exact, dropout rate p, same mask as the reference', async () => {
      checkReluDropout(await set.make(), set.name);
    });

    it('gatherRows: u8 pixels → scaled f32 rows and labels, exact', async () => {
      const k = await set.make();
      const r = reference64();
      for (const rowLen of [1, 15, 16, 17, 784]) {
        const count = 50;
        const images = Uint8Array.from({ length: count * rowLen }, (_, i) => bits(3, i) & 255);
        const labels = Uint8Array.from({ length: count }, (_, i) => i % 10);
        const idx = Int32Array.from({ length: 23 }, (_, i) => bits(4, i) % count);
        const scale = Math.fround(1 / 255);
        const out = k.alloc('f32', 23 * rowLen), outL = k.alloc('i32', 23);
        k.gatherRows(put(k, images, 'u8'), put(k, labels, 'u8'), rowLen, put(k, idx, 'i32'), 23, scale, out, outL);
        const rout = r.alloc('f32', 23 * rowLen), routL = r.alloc('i32', 23);
        r.gatherRows(put(r, images, 'u8'), put(r, labels, 'u8'), rowLen, put(r, idx, 'i32'), 23, scale, rout, routL);
        expect(report(`${set.name} gatherRows rowLen=${rowLen}`, k.read(out), Float32Array.from(r.raw(rout)))).toBe(0);
        expect(Array.from(k.read(outL))).toEqual(Array.from(r.raw(routL)));
      }
    });

    it('gatherRowsF32 and copy: exact, bounds checked', async () => {
      const k = await set.make();
      const r = reference64();
      for (const rowLen of [1, 5, 1000]) {
        const src = randomFloats(40 * rowLen, rowLen);
        const idx = Int32Array.from({ length: 17 }, (_, i) => bits(8, i) % 40);
        const out = k.alloc('f32', 17 * rowLen), rout = r.alloc('f32', 17 * rowLen);
        k.gatherRowsF32(put(k, src), rowLen, put(k, idx, 'i32'), 17, out);
        r.gatherRowsF32(put(r, src), rowLen, put(r, idx, 'i32'), 17, rout);
        expect(report(`${set.name} gatherRowsF32 rowLen=${rowLen}`, k.read(out), Float32Array.from(r.raw(rout)))).toBe(0);
      }
      const a = put(k, [1, 2, 3, 4, 5]), b = put(k, [0, 0, 0, 0, 0, 0]);
      k.copy(a, b, 3, 1, 2);
      expect(Array.from(k.read(b))).toEqual([0, 0, 2, 3, 4, 0]);
      expect(() => k.copy(a, b, 5, 1, 0)).toThrow(/outside a buffer of 5/);
    });

    it('logSoftmaxNll: loss, gradient and argmax', async () => {
      const k = await set.make();
      const r = reference64();
      for (const [m, n] of [[1, 2], [7, 10], [128, 10], [33, 3]]) {
        // Large logits (raw-pixel models produce hundreds) and a tie for argmax.
        const z = randomFloats(m * n, 11 * m + n, -300, 300);
        z[1] = z[0];
        const labels = Int32Array.from({ length: m }, (_, i) => bits(9, i) % n);
        const g = k.alloc('f32', m * n), am = k.alloc('i32', m);
        const loss = k.logSoftmaxNll(put(k, z), put(k, labels, 'i32'), m, n, g, 1 / m, am);
        const rg = r.alloc('f32', m * n), ram = r.alloc('i32', m);
        const rloss = r.logSoftmaxNll(put(r, z), put(r, labels, 'i32'), m, n, rg, 1 / m, ram);
        console.log(`${set.name} logSoftmaxNll ${m}×${n}: loss ${loss} vs ${rloss}`);
        expect(Math.abs(loss - rloss)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(rloss)));
        const got = k.read(g), want = r.raw(rg);
        for (let i = 0; i < m * n; i++) expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(2 * U * Math.abs(want[i]) + 1e-45);
        report(`${set.name} logSoftmaxNll grad ${m}×${n}`, got, want);
        expect(Array.from(k.read(am))).toEqual(Array.from(r.raw(ram)));
        // Prediction only: no labels, no grad.
        expect(k.logSoftmaxNll(put(k, z), null, m, n, null, 0, am)).toBe(0);
      }
    });

    it('adam: bias-corrected update of w, m, v (4 ulps of its terms)', async () => {
      expect(checkAdam(await set.make(), set.name, [1, 5, 4096 + 3], 4)).toBeLessThanOrEqual(1);
    });
  });
}
