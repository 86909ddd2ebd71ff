// Shared test helpers: the kernel sets under test, seeded random data, and one compare helper
// that prints the max difference (so every comparison is also a small report).
import type { Buf, Kernels } from '../src/engine/kernels.js';
import { ReferenceKernels } from '../src/engine/reference-kernels.js';
import { WasmKernels } from '../src/engine/wasm-kernels.js';
import { compileKernels, supportsRelaxedSimd } from '../src/engine/wasm-loader.js';
import { bits, dropoutThreshold, uniform } from '../src/engine/rng.js';

export interface KernelSetCase {
  name: string;
  make(): Promise<Kernels>;
}

/** Every fast kernel set this runtime can run; each is compared with the reference set. */
export function fastKernelSets(): KernelSetCase[] {
  const sets: KernelSetCase[] = [
    { name: 'wasm-simd', make: async () => WasmKernels.create(await compileKernels('simd'), 'simd') },
  ];
  if (supportsRelaxedSimd()) {
    sets.push({ name: 'wasm-relaxed-simd', make: async () => WasmKernels.create(await compileKernels('relaxed'), 'relaxed') });
  }
  return sets;
}

export const reference32 = () => new ReferenceKernels('f32');
export const reference64 = () => new ReferenceKernels('f64');

/** Deterministic uniform(lo, hi) floats from the project's own PRNG. */
export function randomFloats(n: number, key: number, lo = -1, hi = 1): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => lo + (hi - lo) * uniform(key, i));
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Logs "label: max |diff| = …" and returns the max difference. */
export function report(label: string, a: ArrayLike<number>, b: ArrayLike<number>, extra = ''): number {
  const d = maxAbsDiff(a, b);
  console.log(`${label}: max |diff| = ${d.toExponential(3)}${extra ? ` ${extra}` : ''}`);
  return d;
}

/** One f32 unit roundoff. */
export const U = 2 ** -24;

/** A buffer of `k` holding `data` (plus `extra` zeros). */
export function put(k: Kernels, data: ArrayLike<number>, dtype: 'f32' | 'i32' | 'u8' = 'f32', extra = 0): Buf {
  const b = k.alloc(dtype, data.length + extra);
  k.write(b, data);
  return b;
}

/**
 * gemm of kernel set `k` against the f64 reference on every shape, both transposes of each
 * operand and (alpha, beta) ∈ {(1, 0), (0.37, 1)}: every element within the f32 dot-product bound
 * |ĉ − c| ≤ (K + 2)·2⁻²⁴·(Σ|a||b| + |beta·c|) (K roundings of the sum, one for alpha, one for
 * beta·C; it holds for any summation order, fused or not), and nothing written past M×N of C
 * (37 sentinels). With `zeroColumns`, whole columns of op(A), rows of op(A) and columns of op(B) are zeroed
 * (the wasm kernels skip them).
 * Throws on the first element out of bound; returns the worst error as a fraction of its bound.
 */
export function checkGemm(k: Kernels, shapes: [number, number, number][], zeroColumns = false): number {
  const r = reference64();
  let worst = 0, seed = 1;
  for (const [M, N, K] of shapes) {
    for (const tA of [false, true]) {
      for (const tB of [false, true]) {
        for (const [alpha, beta] of [[1, 0], [0.37, 1]] as const) {
          seed++;
          const a = randomFloats(M * K, seed * 3), b = randomFloats(K * N, seed * 3 + 1), c0 = randomFloats(M * N, seed * 3 + 2);
          if (zeroColumns) {
            // Like ReLU outputs of dead units: whole columns p of op(A) are zero — the first 260
            // (a whole 256-block) and ~70 % of the rest.
            for (let p = 0; p < K; p++) {
              if (p < 260 || uniform(seed, p) < 0.7) for (let i = 0; i < M; i++) a[tA ? p * M + i : i * K + p] = 0;
            }
            // And half of the rows of op(A) and of the columns of op(B) (units dead for a batch).
            for (let i = 0; i < M; i++) if (uniform(seed + 1, i) < 0.5) for (let p = 0; p < K; p++) a[tA ? p * M + i : i * K + p] = 0;
            for (let j = 0; j < N; j++) if (uniform(seed + 2, j) < 0.5) for (let p = 0; p < K; p++) b[tB ? j * K + p : p * N + j] = 0;
          }
          const C = put(k, [...c0, ...new Array(37).fill(12345)]);
          const Ab = put(k, a), Bb = put(k, b);
          k.gemm(tA, tB, M, N, K, alpha, Ab, Bb, beta, C);
          const got = k.read(C);
          for (const x of [Ab, Bb, C]) k.free(x);
          const Cr = put(r, c0);
          r.gemm(tA, tB, M, N, K, alpha, put(r, a), put(r, b), beta, Cr);
          const want = r.raw(Cr);
          const absC = put(r, new Array(M * N).fill(0));
          r.gemm(tA, tB, M, N, K, Math.abs(alpha), put(r, a.map(Math.abs)), put(r, b.map(Math.abs)), 0, absC);
          const bound = r.raw(absC);
          for (let i = 0; i < M * N; i++) {
            const tol = (K + 2) * U * (bound[i] + Math.abs(beta * c0[i])) + 1e-30;
            const err = Math.abs(got[i] - want[i]);
            worst = Math.max(worst, err / tol);
            if (err > tol) {
              throw new Error(`gemm tA=${tA} tB=${tB} ${M}×${N}×${K} alpha=${alpha} beta=${beta}: C[${i}] = ${got[i]}, reference ${want[i]}, |diff| ${err} > ${tol}`);
            }
          }
          for (let i = M * N; i < M * N + 37; i++) {
            if (got[i] !== 12345) throw new Error(`gemm ${M}×${N}×${K} wrote C[${i}] past M×N`);
          }
        }
      }
    }
  }
  return worst;
}

/**
 * Adam of kernel set `k` against the f64 reference for each n: w, m and v within `ulps` f32 units
 * of the magnitude of the terms each update adds (cancellation in m and w makes a bound relative
 * to the result meaningless). Prints max differences; returns the worst error as a fraction of
 * its bound; throws on the first value out of bound.
 */
export function checkAdam(k: Kernels, label: string, sizes: number[], ulps: number): number {
  const r = reference64();
  let worst = 0;
  for (const n of sizes) {
    const w = randomFloats(n, 1), g = randomFloats(n, 2, -1e-3, 1e-3), m = randomFloats(n, 3, -1e-4, 1e-4), v = randomFloats(n, 4, 0, 1e-6);
    const t = 7, b1 = 0.9, b2 = 0.999, lr = 1e-3, eps = 1e-8;
    const stepSize = lr / (1 - b1 ** t), inv = 1 / Math.sqrt(1 - b2 ** t);
    const bufs = [w, g, m, v].map((a) => put(k, a));
    k.adam(bufs[0], bufs[1], bufs[2], bufs[3], n, stepSize, b1, b2, eps, inv);
    const rb = [w, g, m, v].map((a) => put(r, a));
    r.adam(rb[0], rb[1], rb[2], rb[3], n, stepSize, b1, b2, eps, inv);
    const mag = {
      m: (i: number) => b1 * Math.abs(m[i]) + (1 - b1) * Math.abs(g[i]),
      v: (i: number) => b2 * v[i] + (1 - b2) * g[i] * g[i],
      w: (i: number) => Math.abs(w[i]) + 4 * Math.abs(w[i] - r.raw(rb[0])[i]),
    };
    for (const [j, name] of [[0, 'w'], [2, 'm'], [3, 'v']] as const) {
      const got = k.read(bufs[j]), want = r.raw(rb[j]);
      report(`${label} adam ${name} n=${n}`, got, want);
      for (let i = 0; i < n; i++) {
        const tol = ulps * U * mag[name](i) + 1e-45;
        const err = Math.abs(got[i] - want[i]);
        worst = Math.max(worst, err / tol);
        if (err > tol) throw new Error(`${label} adam ${name}[${i}] n=${n}: ${got[i]} vs ${want[i]}, |diff| ${err} > ${tol}`);
      }
    }
    for (const b of bufs) k.free(b);
  }
  return worst;
}

/**
 * ReLU+dropout forward and backward of `k` against the reference, exact (one comparison and one
 * f32 multiplication per element; the mask is the project's PRNG in every set), the dropped
 * fraction of positive inputs within 4 sigma of p, and threshold 0 = plain ReLU. Throws on a
 * mismatch.
 */
export function checkReluDropout(k: Kernels, label: string): void {
  const r = reference64();
  for (const n of [1, 3, 4, 7, 1000, 100_003]) {
    const x = randomFloats(n, 77 + n);
    const key = bits(5, n), p = 0.3, thr = dropoutThreshold(p), scale = Math.fround(1 / (1 - p));
    const xb = put(k, x);
    k.reluDropoutForward(xb, n, key, thr, scale);
    const got = k.read(xb);
    const rb = put(r, x);
    r.reluDropoutForward(rb, n, key, thr, scale);
    if (report(`${label} reluDropoutForward n=${n}`, got, Float32Array.from(r.raw(rb))) !== 0) throw new Error(`${label} reluDropoutForward n=${n} differs from the reference`);
    if (n > 100_000) {
      let pos = 0, dropped = 0;
      for (let i = 0; i < n; i++) if (x[i] > 0) { pos++; if (got[i] === 0) dropped++; }
      const sigma = Math.sqrt(p * (1 - p) / pos);
      if (Math.abs(dropped / pos - p) >= 4 * sigma) throw new Error(`${label}: dropped ${dropped} of ${pos} positive inputs, expected a fraction ${p}`);
    }
    // Backward through the same output.
    const g = randomFloats(n, 99 + n);
    const gb = put(k, g);
    k.reluDropoutBackward(gb, xb, n, scale);
    const rg = put(r, g);
    r.reluDropoutBackward(rg, put(r, got), n, scale);
    if (report(`${label} reluDropoutBackward n=${n}`, k.read(gb), Float32Array.from(r.raw(rg))) !== 0) throw new Error(`${label} reluDropoutBackward n=${n} differs from the reference`);
    // threshold 0 = plain ReLU.
    const pb = put(k, x);
    k.reluDropoutForward(pb, n, 0, 0, 1);
    const relu = k.read(pb);
    for (let i = 0; i < n; i++) if (relu[i] !== (x[i] > 0 ? x[i] : 0)) throw new Error(`${label} plain ReLU: element ${i} is ${relu[i]}`);
    for (const b of [xb, gb, pb]) k.free(b);
  }
}
