// The WebGL kernel set: the same kernel interface (kernels.ts) on the GPU, through
// @tensorflow/tfjs-core + @tensorflow/tfjs-backend-webgl. The engine loads this module with a
// dynamic import() only when the WebGL backend is chosen, so pages that never pick WebGL never
// download tfjs.
//
// Storage:
//  - f32 buffers live on the GPU as 1-D tf tensors (immutable): a write to a region builds the new
//    tensor (concat of the untouched head, the new values and the untouched tail) and disposes
//    the old one. A buffer remembers how many leading elements it holds (`valid`); everything
//    past them is zero, so a fresh buffer costs no GPU memory and a write that covers the whole
//    used prefix replaces the tensor without any copy (the common case: workspaces are written
//    whole every step).
//  - i32 and u8 buffers (batch indices, labels, argmax results, the dataset's u8 pixels) live in
//    host memory: the host writes or reads them every step anyway, and the dataset stays u8
//    (47 MB for MNIST) instead of becoming a 188 MB float texture. gatherRows assembles the batch
//    on the CPU (the same f32 rounding as the wasm kernel) and uploads b×rowLen floats.
//
// Operations: gemm is tf.matMul with its transpose flags (+ alpha, + C when beta = 1);
// log-softmax/NLL, gatherRowsF32 are tf ops; ReLU+dropout (forward and backward) and Adam are
// small custom fragment shaders run through the WebGL backend's compileAndRun:
//  - the dropout mask is computed IN the shader from the project's counter-based PRNG,
//    bits(key, i) = lowbias32(key + lowbias32(i)), ported to GLSL ES 3.00 unsigned integer
//    arithmetic (which wraps modulo 2^32 exactly like Math.imul / AssemblyScript's u32). Every
//    element draws the same bits as in the TS and wasm sets (a test compares the masks), and no
//    mask crosses the bus: computing it on the CPU would cost ~4 ms of hashing plus a 1.5 MB upload
//    per step of the reference model, more than the GPU work it feeds on a real GPU.
//  - Adam is three passes (m, v, then w) with the wasm kernel's expression order.
//
// Precision: everything is f32, but a GPU need not round like IEEE (contractions to FMA,
// exp/log/sqrt/division within a few ulps), so results match the reference within the tolerances
// stated in test/browser/webgl-kernels.spec.ts, not bit for bit. A GPU that cannot render to
// float32 textures would silently compute in half floats: create() refuses it (and checks with a
// self-test that f32 values and the PRNG survive a round trip through the GPU).

import * as tf from '@tensorflow/tfjs-core';
// The WebGL backend without its automatic registration of ~170 kernels: only the kernels of the
// ops below are registered (a custom tfjs bundle), which makes this chunk about half the size.
import '@tensorflow/tfjs-backend-webgl/dist/base';
import type { GPGPUProgram, MathBackendWebGL } from '@tensorflow/tfjs-backend-webgl';
import { addConfig } from '@tensorflow/tfjs-backend-webgl/dist/kernels/Add';
import { argMaxConfig } from '@tensorflow/tfjs-backend-webgl/dist/kernels/ArgMax';
import { batchMatMulConfig } from '@tensorflow/tfjs-backend-webgl/dist/kernels/BatchMatMul';
import { castConfig } from '@tensorflow/tfjs-backend-webgl/dist/kernels/Cast';
import { concatConfig } from '@tensorflow/tfjs-backend-webgl/dist/kernels/Concat';
import { expConfig } from '@tensorflow/tfjs-backend-webgl/dist/kernels/Exp';
import { fillConfig } from '@tensorflow/tfjs-backend-webgl/dist/kernels/Fill';
import { gatherV2Config } from '@tensorflow/tfjs-backend-webgl/dist/kernels/GatherV2';
import { identityConfig } from '@tensorflow/tfjs-backend-webgl/dist/kernels/Identity';
import { logConfig } from '@tensorflow/tfjs-backend-webgl/dist/kernels/Log';
import { maxConfig } from '@tensorflow/tfjs-backend-webgl/dist/kernels/Max';
import { multiplyConfig } from '@tensorflow/tfjs-backend-webgl/dist/kernels/Multiply';
import { negConfig } from '@tensorflow/tfjs-backend-webgl/dist/kernels/Neg';
import { oneHotConfig } from '@tensorflow/tfjs-backend-webgl/dist/kernels/OneHot';
import { reshapeConfig } from '@tensorflow/tfjs-backend-webgl/dist/kernels/Reshape';
import { sliceConfig } from '@tensorflow/tfjs-backend-webgl/dist/kernels/Slice';
import { subConfig } from '@tensorflow/tfjs-backend-webgl/dist/kernels/Sub';
import { sumConfig } from '@tensorflow/tfjs-backend-webgl/dist/kernels/Sum';

for (const config of [addConfig, argMaxConfig, batchMatMulConfig, castConfig, concatConfig, expConfig, fillConfig,
  gatherV2Config, identityConfig, logConfig, maxConfig, multiplyConfig, negConfig, oneHotConfig, reshapeConfig,
  sliceConfig, subConfig, sumConfig]) {
  if (!tf.getKernel(config.kernelName, 'webgl')) tf.registerKernel(config);
}
// Runtime imports stay within this chunk, tfjs and the GPU probe's own chunk: importing a module
// the engine worker also imports (rng.ts, errors.ts…) would make the bundler export it from the
// worker's entry chunk, and loading this chunk would then run the worker entry a second time
// wherever its URL differs (Vite's dev server adds a query): two engines answering one port.
// vite.lib.config.ts refuses to build such a bundle.
import { SOFTWARE_RENDERER } from '../platform-browser.js';
import type { Buf, DType, HostArray, Kernels } from './kernels.js';

/**
 * The project's PRNG draw bits(key, i) (src/engine/rng.ts), copied here for the self-test only
 * (see the imports above). The browser test compares the shader's masks with rng.ts itself, so a
 * drift of this copy would fail there.
 */
function cpuBits(key: number, i: number): number {
  const h = (x: number) => {
    x = (x ^ (x >>> 16)) >>> 0;
    x = Math.imul(x, 0x7feb352d) >>> 0;
    x = (x ^ (x >>> 15)) >>> 0;
    x = Math.imul(x, 0x846ca68b) >>> 0;
    return (x ^ (x >>> 16)) >>> 0;
  };
  return h((key + h(i >>> 0)) >>> 0);
}

/** What the WebGL kernel set runs on (reported in EngineInfo.gl). */
export interface WebGLDeviceInfo {
  /** UNMASKED_RENDERER_WEBGL where the browser exposes it, else RENDERER. */
  renderer: string;
  vendor: string;
  /** 2 (WebGL2 is required). */
  webglVersion: number;
  /** A CPU renderer (SwiftShader, llvmpipe, …): correct but slow. */
  software: boolean;
  /** Whether the context lives on an OffscreenCanvas in a worker (else a page canvas). */
  offscreen: boolean;
}


class GLBuf implements Buf {
  /** f32: the first `valid` elements; null = all zero. */
  t: tf.Tensor1D | null = null;
  valid = 0;
  /** i32 / u8: host storage. */
  host: Int32Array | Uint8Array | null;
  constructor(readonly dtype: DType, readonly length: number) {
    this.host = dtype === 'i32' ? new Int32Array(length) : dtype === 'u8' ? new Uint8Array(length) : null;
  }
}

// ---- shaders -------------------------------------------------------------------------------

const HASH = `
  uint wlHash(uint x) {
    x ^= x >> 16u; x *= 0x7feb352du;
    x ^= x >> 15u; x *= 0x846ca68bu;
    x ^= x >> 16u;
    return x;
  }`;

/** out[i] = x[i] > 0 && keep(i) ? x[i]·scale : 0, keep(i) = (bits(key, i) >>> 8) ≥ threshold. */
function dropoutProgram(n: number): GPGPUProgram {
  return {
    variableNames: ['X'],
    outputShape: [n],
    customUniforms: [{ name: 'uKey', type: 'int' }, { name: 'uThreshold', type: 'int' }, { name: 'uScale', type: 'float' }],
    userCode: `${HASH}
      void main() {
        int i = getOutputCoords();
        float v = getX(i);
        bool keep = uThreshold == 0 || int(wlHash(uint(uKey) + wlHash(uint(i))) >> 8u) >= uThreshold;
        setOutput(v > 0.0 && keep ? v * uScale : 0.0);
      }`,
  };
}

/** out[i] = a[i] > 0 ? g[i]·scale : 0. */
function reluBackwardProgram(n: number): GPGPUProgram {
  return {
    variableNames: ['G', 'A'],
    outputShape: [n],
    customUniforms: [{ name: 'uScale', type: 'float' }],
    userCode: `
      void main() {
        int i = getOutputCoords();
        setOutput(getA(i) > 0.0 ? getG(i) * uScale : 0.0);
      }`,
  };
}

/** m' = β1·m + (1−β1)·g  (or, with `second`, v' = β2·v + (1−β2)·g²). */
function momentProgram(n: number, second: boolean): GPGPUProgram {
  return {
    variableNames: ['M', 'G'],
    outputShape: [n],
    customUniforms: [{ name: 'uBeta', type: 'float' }, { name: 'uOneMinusBeta', type: 'float' }],
    userCode: `
      void main() {
        int i = getOutputCoords();
        float g = getG(i);
        setOutput(uBeta * getM(i) + uOneMinusBeta * ${second ? '(g * g)' : 'g'});
      }`,
  };
}

/** w' = w − stepSize·m / (√v·invSqrtBc2 + ε), with the new moments. */
function adamWeightProgram(n: number): GPGPUProgram {
  return {
    variableNames: ['W', 'M', 'V'],
    outputShape: [n],
    customUniforms: [{ name: 'uStep', type: 'float' }, { name: 'uInvSqrtBc2', type: 'float' }, { name: 'uEps', type: 'float' }],
    userCode: `
      void main() {
        int i = getOutputCoords();
        float denom = sqrt(getV(i)) * uInvSqrtBc2 + uEps;
        setOutput(getW(i) - (uStep * getM(i)) / denom);
      }`,
  };
}

// ---- the kernel set ------------------------------------------------------------------------

export class WebGLKernels implements Kernels {
  readonly name = 'webgl-tfjs';

  private constructor(private readonly backend: MathBackendWebGL, readonly device: WebGLDeviceInfo) {}

  /**
   * Starts tfjs's WebGL backend (inside a worker it draws on an OffscreenCanvas) and checks that
   * it computes in float32. Throws, with the reason, where it cannot run or would be wrong.
   */
  static async create(): Promise<WebGLKernels> {
    const inWorker = typeof document === 'undefined';
    if (typeof OffscreenCanvas === 'undefined' && inWorker) {
      throw new Error(typeof process !== 'undefined' && process.versions?.node
        ? 'the WebGL backend needs a browser: Node has no WebGL (use backend "wasm")'
        : 'the WebGL backend cannot run in this worker: the browser has no OffscreenCanvas (use backend "wasm")');
    }
    if (tf.env().getNumber('WEBGL_VERSION') !== 2) {
      throw new Error('the WebGL backend needs WebGL2 (the dropout shader uses unsigned integer arithmetic); this browser or GPU offers none (use backend "wasm")');
    }
    let ok = false;
    try {
      ok = await tf.setBackend('webgl');
    } catch { ok = false; }
    if (!ok) throw new Error('the WebGL backend could not start: tfjs could not create a WebGL2 context here (use backend "wasm")');
    await tf.ready();
    if (!tf.env().getBool('WEBGL_RENDER_FLOAT32_CAPABLE') || !tf.env().getBool('WEBGL_RENDER_FLOAT32_ENABLED')) {
      throw new Error('the WebGL backend refuses this GPU: it cannot render to float32 textures (EXT_color_buffer_float), so tfjs would compute in 16-bit floats and training would be wrong (use backend "wasm")');
    }
    if (!tf.env().getBool('WEBGL_DOWNLOAD_FLOAT_ENABLED')) {
      throw new Error('the WebGL backend refuses this GPU: float32 results cannot be read back exactly (use backend "wasm")');
    }
    const backend = tf.backend() as MathBackendWebGL;
    const gl = backend.gpgpu.gl as WebGL2RenderingContext;
    const dbg = gl.getExtension('WEBGL_debug_renderer_info');
    const renderer = String(gl.getParameter(dbg ? dbg.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
    const vendor = String(gl.getParameter(dbg ? dbg.UNMASKED_VENDOR_WEBGL : gl.VENDOR));
    const k = new WebGLKernels(backend, {
      renderer, vendor, webglVersion: 2, software: SOFTWARE_RENDERER.test(renderer), offscreen: inWorker,
    });
    k.selfTest();
    return k;
  }

  /** f32 values and the PRNG must survive the GPU exactly; otherwise refuse. */
  private selfTest(): void {
    const probe = Float32Array.from([1 + 2 ** -23, Math.PI, -1e-30, 3e38, 16777215, -0.1]);
    const b = this.alloc('f32', probe.length);
    this.write(b, probe);
    this.reluDropoutForward(b, probe.length, 0, 0, 1); // a GPU pass: relu
    const got = this.read(b);
    const want = probe.map((v) => (v > 0 ? v : 0));
    const x = Float32Array.from({ length: 257 }, (_, i) => i + 1);
    const d = this.alloc('f32', x.length);
    this.write(d, x);
    const key = 0x9e3779b9 | 0, thr = 5_000_000;
    this.reluDropoutForward(d, x.length, key, thr, 2);
    const masked = this.read(d);
    this.free(b);
    this.free(d);
    for (let i = 0; i < probe.length; i++) {
      if (got[i] !== want[i]) {
        throw new Error(`the WebGL backend refuses this GPU: a float32 value came back as ${got[i]} instead of ${want[i]} (the GPU computes in less than float32 precision; use backend "wasm")`);
      }
    }
    for (let i = 0; i < x.length; i++) {
      const w = (cpuBits(key, i) >>> 8) >= thr ? x[i] * 2 : 0;
      if (masked[i] !== w) {
        throw new Error(`the WebGL backend refuses this GPU: its unsigned integer arithmetic does not reproduce the PRNG (element ${i}: ${masked[i]} instead of ${w}); use backend "wasm"`);
      }
    }
  }

  // ---- storage -----------------------------------------------------------------------------

  alloc(dtype: DType, length: number): Buf {
    if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`alloc: bad length ${length}`);
    return new GLBuf(dtype, length);
  }

  free(buf: Buf): void {
    const b = buf as GLBuf;
    b.t?.dispose();
    b.t = null;
    b.valid = 0;
    b.host = null;
  }

  write(buf: Buf, src: ArrayLike<number>, offset = 0): void {
    const b = buf as GLBuf;
    if (offset < 0 || offset + src.length > b.length) throw new RangeError(`write: ${src.length} elements at ${offset} overflow a buffer of ${b.length}`);
    if (b.host) { b.host.set(src, offset); return; }
    if (src.length === 0) return;
    const v = tf.tensor1d(src instanceof Float32Array ? src.slice() : Float32Array.from(src), 'float32');
    this.splice(b, offset, v);
    v.dispose();
  }

  read(buf: Buf, length = buf.length): HostArray {
    const b = buf as GLBuf;
    if (length < 0 || length > b.length) throw new RangeError(`read: ${length} elements from a buffer of ${b.length}`);
    if (b.host) return b.host.slice(0, length);
    if (length === 0 || !b.t) return new Float32Array(length);
    const t = tf.tidy(() => this.region(b, 0, length));
    const out = Float32Array.from(t.dataSync() as Float32Array);
    if (t !== b.t) t.dispose();
    return out;
  }

  zero(buf: Buf, n = buf.length): void {
    const b = buf as GLBuf;
    if (b.host) { b.host.fill(0, 0, n); return; }
    if (n >= b.valid) {
      b.t?.dispose();
      b.t = null;
      b.valid = 0;
      return;
    }
    const z = tf.zeros([n], 'float32') as tf.Tensor1D;
    this.splice(b, 0, z);
    z.dispose();
  }

  copy(src: Buf, dst: Buf, n: number, srcOffset = 0, dstOffset = 0): void {
    if (src.dtype !== dst.dtype) throw new TypeError(`copy: ${src.dtype} → ${dst.dtype}`);
    for (const [b, o] of [[src, srcOffset], [dst, dstOffset]] as const) {
      if (o < 0 || n < 0 || o + n > b.length) throw new RangeError(`copy: elements [${o}, ${o + n}) are outside a buffer of ${b.length}`);
    }
    const s = src as GLBuf, d = dst as GLBuf;
    if (n === 0) return;
    if (s.host && d.host) { d.host.set(s.host.slice(srcOffset, srcOffset + n), dstOffset); return; }
    const v = tf.tidy(() => tf.clone(this.region(s, srcOffset, n)));
    this.splice(d, dstOffset, v);
    v.dispose();
  }

  /** Elements [off, off + n) of an f32 buffer as a tensor (zeros past `valid`). Call inside tidy. */
  private region(b: GLBuf, off: number, n: number): tf.Tensor1D {
    if (!b.t || off >= b.valid) return tf.zeros([n], 'float32') as tf.Tensor1D;
    if (off === 0 && n === b.valid) return b.t;
    const end = off + n;
    if (end <= b.valid) return tf.slice(b.t, off, n);
    return tf.concat([tf.slice(b.t, off, b.valid - off), tf.zeros([end - b.valid], 'float32') as tf.Tensor1D]);
  }

  /** Writes the n values of `v` at elements [off, off + n) of `b`; the caller still owns `v`. */
  private splice(b: GLBuf, off: number, v: tf.Tensor): void {
    const n = v.size;
    const next = tf.tidy(() => {
      const flat = tf.reshape(v, [n]) as tf.Tensor1D;
      const parts: tf.Tensor1D[] = [];
      if (off > 0) parts.push(this.region(b, 0, off));
      parts.push(flat);
      if (b.t && b.valid > off + n) parts.push(tf.slice(b.t, off + n, b.valid - off - n));
      return parts.length === 1 ? flat : tf.concat(parts);
    });
    const old = b.t;
    b.t = next;
    b.valid = Math.max(b.valid, off + n);
    if (old && old !== next) old.dispose();
  }

  private f32(buf: Buf, need: number, what: string): GLBuf {
    if (buf.dtype !== 'f32') throw new TypeError(`${what}: expected an f32 buffer, got ${buf.dtype}`);
    if (need > buf.length) throw new RangeError(`${what}: needs ${need} elements, the buffer has ${buf.length}`);
    return buf as GLBuf;
  }

  private host(buf: Buf, need: number, what: string): Int32Array | Uint8Array {
    const h = (buf as GLBuf).host;
    if (!h) throw new TypeError(`${what}: expected an i32/u8 buffer, got ${buf.dtype}`);
    if (need > h.length) throw new RangeError(`${what}: needs ${need} elements, the buffer has ${h.length}`);
    return h;
  }

  /** Runs a custom shader inside tf.tidy (the output is tracked like any tensor). */
  private run(program: GPGPUProgram, inputs: tf.Tensor[], uniforms: number[][]): tf.Tensor {
    const info = this.backend.compileAndRun(program, inputs, 'float32', uniforms);
    return tf.engine().makeTensorFromTensorInfo(info);
  }

  // ---- kernels -----------------------------------------------------------------------------

  gemm(transA: boolean, transB: boolean, M: number, N: number, K: number,
    alpha: number, A: Buf, B: Buf, beta: 0 | 1, C: Buf): void {
    const a = this.f32(A, M * K, 'gemm A'), b = this.f32(B, K * N, 'gemm B'), c = this.f32(C, M * N, 'gemm C');
    if (M === 0 || N === 0) return;
    const out = tf.tidy(() => {
      let p: tf.Tensor2D;
      if (K === 0) {
        p = tf.zeros([M, N], 'float32') as tf.Tensor2D;
      } else {
        const am = tf.reshape(this.region(a, 0, M * K), transA ? [K, M] : [M, K]) as tf.Tensor2D;
        const bm = tf.reshape(this.region(b, 0, K * N), transB ? [N, K] : [K, N]) as tf.Tensor2D;
        p = tf.matMul(am, bm, transA, transB);
        if (alpha !== 1) p = tf.mul(p, tf.scalar(alpha, 'float32'));
      }
      if (beta) p = tf.add(p, tf.reshape(this.region(c, 0, M * N), [M, N]));
      return p;
    });
    this.splice(c, 0, out);
    out.dispose();
  }

  reluDropoutForward(x: Buf, n: number, key: number, threshold: number, scale: number): void {
    const b = this.f32(x, n, 'reluDropoutForward');
    if (n === 0) return;
    const out = tf.tidy(() => this.run(dropoutProgram(n), [this.region(b, 0, n)], [[key | 0], [threshold | 0], [scale]]));
    this.splice(b, 0, out);
    out.dispose();
  }

  reluDropoutBackward(g: Buf, a: Buf, n: number, scale: number): void {
    const gb = this.f32(g, n, 'reluDropoutBackward g'), ab = this.f32(a, n, 'reluDropoutBackward a');
    if (n === 0) return;
    const out = tf.tidy(() => this.run(reluBackwardProgram(n), [this.region(gb, 0, n), this.region(ab, 0, n)], [[scale]]));
    this.splice(gb, 0, out);
    out.dispose();
  }

  gatherRows(images: Buf, labels: Buf, rowLen: number, idx: Buf, count: number, scale: number,
    out: Buf, outLabels: Buf): void {
    const img = this.host(images, 0, 'gatherRows images'), lab = this.host(labels, 0, 'gatherRows labels');
    const ix = this.host(idx, count, 'gatherRows idx'), ol = this.host(outLabels, count, 'gatherRows outLabels');
    const o = this.f32(out, count * rowLen, 'gatherRows out');
    if (count === 0) return;
    // The wasm kernel's rounding: f32(pixel · f32(scale)), one rounding of an exact product.
    const s = Math.fround(scale);
    const rows = new Float32Array(count * rowLen);
    for (let r = 0; r < count; r++) {
      const row = ix[r];
      if (row < 0 || (row + 1) * rowLen > img.length) throw new RangeError(`gatherRows: row ${row} is outside the images`);
      const base = row * rowLen, dst = r * rowLen;
      for (let c = 0; c < rowLen; c++) rows[dst + c] = img[base + c] * s;
      ol[r] = lab[row];
    }
    const v = tf.tensor1d(rows, 'float32');
    this.splice(o, 0, v);
    v.dispose();
  }

  gatherRowsF32(src: Buf, rowLen: number, idx: Buf, count: number, out: Buf): void {
    const s = this.f32(src, 0, 'gatherRowsF32 src'), o = this.f32(out, count * rowLen, 'gatherRowsF32 out');
    const ix = this.host(idx, count, 'gatherRowsF32 idx');
    if (count === 0 || rowLen === 0) return;
    const rows = Math.floor(s.length / rowLen);
    for (let r = 0; r < count; r++) {
      if (ix[r] < 0 || ix[r] >= rows) throw new RangeError(`gatherRowsF32: row ${ix[r]} is outside a source of ${rows} rows`);
    }
    const v = tf.tidy(() => {
      const table = tf.reshape(this.region(s, 0, rows * rowLen), [rows, rowLen]);
      return tf.gather(table, tf.tensor1d(ix.slice(0, count), 'int32'));
    });
    this.splice(o, 0, v);
    v.dispose();
  }

  logSoftmaxNll(z: Buf, labels: Buf | null, m: number, n: number, grad: Buf | null,
    gradScale: number, argmax: Buf | null): number {
    const zb = this.f32(z, m * n, 'logSoftmaxNll z');
    const y = labels ? this.host(labels, m, 'logSoftmaxNll labels') : null;
    const gb = grad ? this.f32(grad, m * n, 'logSoftmaxNll grad') : null;
    const am = argmax ? this.host(argmax, m, 'logSoftmaxNll argmax') : null;
    if (m === 0) return 0;
    const { loss, g, arg } = tf.tidy(() => {
      const Z = tf.reshape(this.region(zb, 0, m * n), [m, n]) as tf.Tensor2D;
      const shifted = tf.sub(Z, tf.max(Z, 1, true));
      const logp = tf.sub(shifted, tf.log(tf.sum(tf.exp(shifted), 1, true)));
      let lossT: tf.Tensor | undefined, gT: tf.Tensor | undefined;
      if (y) {
        for (let i = 0; i < m; i++) if (y[i] < 0 || y[i] >= n) throw new RangeError(`logSoftmaxNll: label ${y[i]} of row ${i} is outside 0..${n - 1}`);
        const onehot = tf.cast(tf.oneHot(tf.tensor1d(y.slice(0, m), 'int32'), n), 'float32');
        lossT = tf.neg(tf.sum(tf.mul(logp, onehot)));
        if (gb) gT = tf.mul(tf.sub(tf.exp(logp), onehot), tf.scalar(gradScale, 'float32'));
      }
      return { loss: lossT, g: gT, arg: am ? tf.argMax(Z, 1) : undefined };
    });
    let total = 0;
    if (loss) { total = (loss.dataSync() as Float32Array)[0]; loss.dispose(); }
    if (g && gb) { this.splice(gb, 0, g); g.dispose(); }
    if (arg && am) { am.set(arg.dataSync() as Int32Array); arg.dispose(); }
    return total;
  }

  adam(w: Buf, g: Buf, m: Buf, v: Buf, n: number, stepSize: number, beta1: number,
    beta2: number, eps: number, invSqrtBc2: number): void {
    const wb = this.f32(w, n, 'adam w'), gb = this.f32(g, n, 'adam g'), mb = this.f32(m, n, 'adam m'), vb = this.f32(v, n, 'adam v');
    if (n === 0) return;
    const [m2, v2] = tf.tidy(() => {
      const gt = this.region(gb, 0, n);
      return [
        this.run(momentProgram(n, false), [this.region(mb, 0, n), gt], [[beta1], [1 - beta1]]),
        this.run(momentProgram(n, true), [this.region(vb, 0, n), gt], [[beta2], [1 - beta2]]),
      ];
    });
    const w2 = tf.tidy(() => this.run(adamWeightProgram(n), [this.region(wb, 0, n), m2, v2], [[stepSize], [invSqrtBc2], [eps]]));
    this.splice(mb, 0, m2);
    this.splice(vb, 0, v2);
    this.splice(wb, 0, w2);
    m2.dispose();
    v2.dispose();
    w2.dispose();
  }

  /** Tensors and bytes tfjs holds now (tests check that steps do not leak). */
  memory(): { numTensors: number; numBytes: number } {
    const mem = tf.memory();
    return { numTensors: mem.numTensors, numBytes: mem.numBytes };
  }
}
