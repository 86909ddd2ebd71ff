// The reference kernel set: plain TypeScript loops, f64 accumulation, no tricks. It is the truth
// the tests compare the wasm and WebGL sets to. With precision 'f64' every float buffer is a
// Float64Array, so the whole step program runs in double precision (used for finite-difference
// gradient checks); with 'f32' values are rounded to f32 at the same points as the fast sets.

import { bits } from './rng.js';
import type { Buf, DType, HostArray, Kernels } from './kernels.js';

type FloatArray = Float32Array | Float64Array;
interface RefBuf extends Buf {
  readonly data: FloatArray | Int32Array | Uint8Array;
}

export class ReferenceKernels implements Kernels {
  readonly name: string;
  constructor(readonly precision: 'f32' | 'f64' = 'f32') {
    this.name = `reference-${precision}`;
  }

  alloc(dtype: DType, length: number): Buf {
    const data = dtype === 'u8' ? new Uint8Array(length)
      : dtype === 'i32' ? new Int32Array(length)
        : this.precision === 'f64' ? new Float64Array(length) : new Float32Array(length);
    return { dtype, length, data } as RefBuf;
  }
  free(): void {}
  write(buf: Buf, src: ArrayLike<number>, offset = 0): void {
    (buf as RefBuf).data.set(src, offset);
  }
  read(buf: Buf, length = buf.length): HostArray {
    const d = (buf as RefBuf).data;
    if (d instanceof Float64Array) return Float32Array.from(d.subarray(0, length));
    return d.slice(0, length) as HostArray;
  }
  /** The raw storage (f64 in 'f64' mode); tests use it to read doubles. */
  raw(buf: Buf): FloatArray | Int32Array | Uint8Array {
    return (buf as RefBuf).data;
  }
  zero(buf: Buf, n = buf.length): void {
    (buf as RefBuf).data.fill(0, 0, n);
  }

  copy(src: Buf, dst: Buf, n: number, srcOffset = 0, dstOffset = 0): void {
    checkRange(src, srcOffset, n);
    checkRange(dst, dstOffset, n);
    const s = (src as RefBuf).data, d = (dst as RefBuf).data;
    for (let i = 0; i < n; i++) d[dstOffset + i] = s[srcOffset + i];
  }

  gatherRowsF32(src: Buf, rowLen: number, idx: Buf, count: number, out: Buf): void {
    const s = f(src), ix = (idx as RefBuf).data, o = f(out);
    for (let r = 0; r < count; r++) for (let c = 0; c < rowLen; c++) o[r * rowLen + c] = s[ix[r] * rowLen + c];
  }

  gemm(transA: boolean, transB: boolean, M: number, N: number, K: number,
    alpha: number, A: Buf, B: Buf, beta: 0 | 1, C: Buf): void {
    const a = f(A), b = f(B), c = f(C);
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let p = 0; p < K; p++) {
          s += (transA ? a[p * M + i] : a[i * K + p]) * (transB ? b[j * K + p] : b[p * N + j]);
        }
        c[i * N + j] = alpha * s + (beta ? c[i * N + j] : 0);
      }
    }
  }

  reluDropoutForward(x: Buf, n: number, key: number, threshold: number, scale: number): void {
    const d = f(x);
    for (let i = 0; i < n; i++) {
      const keep = threshold === 0 || bits(key, i) >>> 8 >= threshold;
      d[i] = d[i] > 0 && keep ? d[i] * scale : 0;
    }
  }

  reluDropoutBackward(g: Buf, a: Buf, n: number, scale: number): void {
    const gd = f(g), ad = f(a);
    for (let i = 0; i < n; i++) gd[i] = ad[i] > 0 ? gd[i] * scale : 0;
  }

  gatherRows(images: Buf, labels: Buf, rowLen: number, idx: Buf, count: number, scale: number,
    out: Buf, outLabels: Buf): void {
    const img = (images as RefBuf).data, lab = (labels as RefBuf).data;
    const ix = (idx as RefBuf).data, o = f(out), ol = (outLabels as RefBuf).data;
    for (let r = 0; r < count; r++) {
      const row = ix[r];
      for (let c = 0; c < rowLen; c++) o[r * rowLen + c] = img[row * rowLen + c] * scale;
      ol[r] = lab[row];
    }
  }

  logSoftmaxNll(z: Buf, labels: Buf | null, m: number, n: number, grad: Buf | null,
    gradScale: number, argmax: Buf | null): number {
    const zd = f(z), y = labels && (labels as RefBuf).data;
    const gd = grad && f(grad), am = argmax && (argmax as RefBuf).data;
    let total = 0;
    for (let i = 0; i < m; i++) {
      let best = zd[i * n], arg = 0;
      for (let j = 1; j < n; j++) if (zd[i * n + j] > best) { best = zd[i * n + j]; arg = j; }
      let sum = 0;
      for (let j = 0; j < n; j++) sum += Math.exp(zd[i * n + j] - best);
      const lse = Math.log(sum);
      if (y) {
        const yi = y[i];
        total -= zd[i * n + yi] - best - lse;
        if (gd) {
          for (let j = 0; j < n; j++) {
            gd[i * n + j] = (Math.exp(zd[i * n + j] - best - lse) - (j === yi ? 1 : 0)) * gradScale;
          }
        }
      }
      if (am) am[i] = arg;
    }
    return total;
  }

  adam(w: Buf, g: Buf, m: Buf, v: Buf, n: number, stepSize: number, beta1: number,
    beta2: number, eps: number, invSqrtBc2: number): void {
    const wd = f(w), gd = f(g), md = f(m), vd = f(v);
    for (let i = 0; i < n; i++) {
      const gi = gd[i];
      md[i] = beta1 * md[i] + (1 - beta1) * gi;
      vd[i] = beta2 * vd[i] + (1 - beta2) * gi * gi;
      wd[i] -= (stepSize * md[i]) / (Math.sqrt(vd[i]) * invSqrtBc2 + eps);
    }
  }
}

function checkRange(b: Buf, offset: number, n: number): void {
  if (offset < 0 || n < 0 || offset + n > b.length) throw new RangeError(`elements [${offset}, ${offset + n}) are outside a buffer of ${b.length}`);
}

function f(buf: Buf): FloatArray {
  if (buf.dtype !== 'f32') throw new TypeError(`expected an f32 buffer, got ${buf.dtype}`);
  return (buf as RefBuf).data as FloatArray;
}
