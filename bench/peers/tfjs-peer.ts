// The TensorFlow.js peer of the side-by-side benchmark: the same workload as wasm-lora (an MLP
// without biases, ReLU + dropout after each hidden layer, log-softmax + mean NLL, Adam, LoRA
// adapters on frozen weights), written the way a tfjs user would write it with tfjs-core ops:
// tf.variable weights, tf.train.adam, optimizer.minimize with an explicit varList, tf.tidy.
//
// Layouts are wasm-lora's: W[l] is in×out row-major (layers compute x·W), A[l] is r×in and B[l]
// out×r (PEFT), and an adapted layer computes z = x·W + (α/r)·(x·Aᵀ)·Bᵀ, never a dense B·A.
//
// Backends: 'wasm' (@tensorflow/tfjs-backend-wasm, XNNPACK) and 'cpu' (@tensorflow/tfjs-backend-cpu,
// plain JS). In Node tfjs-backend-wasm never uses its threaded binary (its
// WASM_HAS_MULTITHREAD_SUPPORT flag is hard-wired to false under Node, tfjs issue #3830), so it
// runs tfjs-backend-wasm-simd.wasm on one thread; see bench/peers/README.md.
//
// Gradients: tfjs-core alone registers no gradient functions in Node; the @tensorflow/tfjs umbrella
// package (what a tfjs user installs) registers all of them, so we import it for that.

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-cpu';
import { getThreadsCount, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

/** 'webgl' (@tensorflow/tfjs-backend-webgl, via the @tensorflow/tfjs umbrella) only in a browser. */
export type TfjsBackend = 'wasm' | 'cpu' | 'webgl';

export interface TfjsInfo {
  backend: string;
  version: string;
  /** Threads the backend computes on (XNNPACK's pool for wasm; the cpu backend is one JS thread). */
  threads?: number;
  /** wasm only: whether the SIMD binary was picked (tfjs's WASM_HAS_SIMD_SUPPORT). */
  simd?: boolean;
  /** wasm only: which of the three binaries tfjs-backend-wasm loads. */
  wasmBinary?: string;
}

let wasmPathsSet = false;

/** Where the npm package keeps its .wasm files (Node only; null elsewhere). */
async function wasmDir(): Promise<string | null> {
  if (typeof process === 'undefined' || !process.versions?.node) return null;
  const { createRequire } = await import('node:module');
  const path = await import('node:path');
  const main = createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm');
  return path.dirname(main) + path.sep;
}

/**
 * Selects and initialises a tfjs backend. For 'wasm' the binaries are read from the installed
 * package (no network), and `threads` is passed to setThreadsCount (it only matters where the
 * threaded binary is used, i.e. not in Node). Production mode is on (no debug checks).
 */
export async function initTfjs(backend: TfjsBackend, threads?: number): Promise<TfjsInfo> {
  tf.enableProdMode();
  if (backend === 'wasm' && !wasmPathsSet) {
    const dir = await wasmDir();
    if (dir) setWasmPaths(dir);
    if (threads !== undefined) setThreadsCount(threads);
    wasmPathsSet = true;
  }
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs: backend ${backend} failed to initialise`);
  await tf.ready();
  const info: TfjsInfo = { backend: tf.getBackend(), version: tf.version_core };
  if (backend === 'wasm') {
    const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
    const mt = Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'));
    info.threads = getThreadsCount();
    info.simd = simd;
    info.wasmBinary = simd && mt ? 'tfjs-backend-wasm-threaded-simd.wasm'
      : simd ? 'tfjs-backend-wasm-simd.wasm' : 'tfjs-backend-wasm.wasm';
  } else {
    info.threads = 1;
  }
  return info;
}

interface Lora {
  r: number;
  scale: number;
  A: tf.Variable[];
  B: tf.Variable[];
}

export class TfjsMlp {
  private readonly W: tf.Variable[];
  private readonly dropout: number;
  private readonly lr: number;
  private optimizer: tf.AdamOptimizer;
  private lora: Lora | null = null;

  constructor(private readonly layers: number[], weights: Float32Array[], opts: { dropout?: number; lr?: number } = {}) {
    if (weights.length !== layers.length - 1) throw new Error(`expected ${layers.length - 1} weight matrices, got ${weights.length}`);
    this.dropout = opts.dropout ?? 0.3;
    this.lr = opts.lr ?? 1e-3;
    this.W = weights.map((w, l) => {
      const [nIn, nOut] = [layers[l], layers[l + 1]];
      if (w.length !== nIn * nOut) throw new Error(`W${l + 1}: expected ${nIn}×${nOut} values, got ${w.length}`);
      // slice(): the cpu backend keeps a reference to the array it is given.
      return tf.tidy(() => tf.variable(tf.tensor2d(w.slice(), [nIn, nOut]), true));
    });
    this.optimizer = tf.train.adam(this.lr, 0.9, 0.999, 1e-8);
  }

  /** Logits of a batch; dropout only when `training`. */
  private logits(x: tf.Tensor2D, training: boolean): tf.Tensor2D {
    const L = this.W.length;
    let h: tf.Tensor2D = x;
    for (let l = 0; l < L; l++) {
      let z: tf.Tensor2D = tf.matMul(h, this.W[l] as tf.Tensor2D);
      if (this.lora) {
        const { A, B, scale } = this.lora;
        const u = tf.matMul(h, A[l], false, true); // b×r
        z = tf.add(z, tf.mul(tf.matMul(u, B[l], false, true), scale));
      }
      if (l < L - 1) {
        h = tf.relu(z);
        if (training && this.dropout > 0) h = tf.dropout(h, this.dropout) as tf.Tensor2D;
      } else {
        h = z;
      }
    }
    return h;
  }

  private input(x: Float32Array, n: number): tf.Tensor2D {
    const nIn = this.layers[0];
    if (x.length < n * nIn) throw new Error(`x: expected ${n}×${nIn} values, got ${x.length}`);
    return tf.tensor2d(x.subarray(0, n * nIn), [n, nIn]);
  }

  /** One Adam step of `optimizer` over `vars`; the loss is read back, so the step is finished. */
  private step(x: Float32Array, labels: Int32Array, n: number, vars: tf.Variable[]): number {
    const nOut = this.layers[this.layers.length - 1];
    const cost = tf.tidy(() => {
      const xs = this.input(x, n);
      const ys = tf.oneHot(tf.tensor1d(labels.subarray(0, n), 'int32'), nOut);
      // softmaxCrossEntropy = mean over the batch of −log_softmax(logits)[y].
      return this.optimizer.minimize(() => tf.losses.softmaxCrossEntropy(ys, this.logits(xs, true)) as tf.Scalar, true, vars)!;
    });
    const loss = cost.dataSync()[0];
    cost.dispose();
    return loss;
  }

  forward(x: Float32Array, n: number): Float32Array {
    const out = tf.tidy(() => this.logits(this.input(x, n), false));
    const data = Float32Array.from(out.dataSync());
    out.dispose();
    return data;
  }

  trainStep(x: Float32Array, labels: Int32Array, n: number): number {
    if (this.lora) throw new Error('trainStep: the base weights are frozen after loraize(); use loraStep');
    return this.step(x, labels, n, this.W);
  }

  loraize(r: number, alpha: number, A: Float32Array[], B: Float32Array[], lr?: number): void {
    if (this.lora) throw new Error('loraize: already has adapters');
    const L = this.W.length;
    if (A.length !== L || B.length !== L) throw new Error(`loraize: expected ${L} A and ${L} B matrices`);
    for (const w of this.W) w.trainable = false;
    const mk = (v: Float32Array, rows: number, cols: number, what: string) => {
      if (v.length !== rows * cols) throw new Error(`${what}: expected ${rows}×${cols} values, got ${v.length}`);
      return tf.tidy(() => tf.variable(tf.tensor2d(v.slice(), [rows, cols]), true));
    };
    this.lora = {
      r,
      scale: alpha / r,
      A: A.map((a, l) => mk(a, r, this.layers[l], `A${l + 1}`)),
      B: B.map((b, l) => mk(b, this.layers[l + 1], r, `B${l + 1}`)),
    };
    this.optimizer.dispose();
    this.optimizer = tf.train.adam(lr ?? this.lr, 0.9, 0.999, 1e-8);
  }

  loraStep(x: Float32Array, labels: Int32Array, n: number): number {
    if (!this.lora) throw new Error('loraStep: call loraize() first');
    return this.step(x, labels, n, [...this.lora.A, ...this.lora.B]);
  }

  evaluate(x: Float32Array, labels: Uint8Array, n: number, batch = 1000): { accuracy: number; predictions: Int32Array } {
    const nIn = this.layers[0];
    const predictions = new Int32Array(n);
    let correct = 0;
    for (let i = 0; i < n; i += batch) {
      const b = Math.min(batch, n - i);
      const pred = tf.tidy(() => tf.argMax(this.logits(this.input(x.subarray(i * nIn), b), false), 1));
      const p = pred.dataSync();
      pred.dispose();
      for (let j = 0; j < b; j++) {
        predictions[i + j] = p[j];
        if (p[j] === labels[i + j]) correct++;
      }
    }
    return { accuracy: n ? correct / n : 0, predictions };
  }

  weights(): { W: Float32Array[]; A: Float32Array[]; B: Float32Array[] } {
    const copy = (v: tf.Variable) => Float32Array.from(v.dataSync());
    return { W: this.W.map(copy), A: this.lora?.A.map(copy) ?? [], B: this.lora?.B.map(copy) ?? [] };
  }

  dispose(): void {
    this.optimizer.dispose();
    for (const v of [...this.W, ...(this.lora?.A ?? []), ...(this.lora?.B ?? [])]) v.dispose();
  }

  numTensors(): number {
    return tf.memory().numTensors;
  }
}
