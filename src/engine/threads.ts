// Threads for the wasm kernels: N − 1 kernel threads (workers) instantiate the same module over
// the engine's shared WebAssembly.Memory and sleep in Atomics.wait until the engine thread hands
// them a slice of a matrix product. Both sides of the protocol are in this file.
//
// Control block (Int32Array over a SharedArrayBuffer):
//   [0] generation — bumped by the engine for each parallel job; threads wait on it
//   [1] pending    — threads still working on the current job; the engine waits on it
//   [2] shutdown
//   [3] a kernel thread that failed (its index), 0 if none
//   [16 + 16·t …] the arguments of thread t's slice (see ARG below); alpha/beta as f32 bits
//
// A product is split along N (columns of C, in multiples of the 8-wide tile) or, when N is small,
// along M (rows of C). Each element of C is computed by exactly the same sequence of operations
// whatever the split, so results with N threads are bit-identical to one thread.

import type { Arena } from './arena.js';

/** What the engine needs from the platform to start a kernel thread (Node worker_thread or Web Worker). */
export interface ThreadEndpoint {
  postMessage(message: unknown): void;
  onMessage(listener: (message: unknown) => void): void;
  onError(listener: (error: Error) => void): void;
  terminate(): void;
}
export type SpawnThread = () => ThreadEndpoint;

export interface PoolExports {
  gemm(tA: number, tB: number, M: number, N: number, K: number, alpha: number, A: number, lda: number,
    B: number, ldb: number, beta: number, C: number, ldc: number, work: number, mask: number): void;
  gemmWorkFloats(M: number, N: number, K: number): number;
  isSkinny(M: number, N: number, K: number): number;
  adam(w: number, g: number, m: number, v: number, n: number, stepSize: number, beta1: number, beta2: number,
    oneMinusBeta1: number, oneMinusBeta2: number, eps: number, invSqrtBc2: number): void;
}

const GEN = 0, PENDING = 1, SHUTDOWN = 2, FAILED = 3, ARGS = 16, STRIDE = 16;
const ARG = { op: 0, tA: 1, tB: 2, M: 3, N: 4, K: 5, A: 6, lda: 7, B: 8, ldb: 9, beta: 10, C: 11, ldc: 12, work: 13, alpha: 14, mask: 15 };
// Adam's slice: pointers and count as ints, hyper-parameters as f32 bits.
const ADAM = { w: 1, g: 2, m: 3, v: 4, n: 5, stepSize: 6, beta1: 7, beta2: 8, c1: 9, c2: 10, eps: 11, inv: 12 };
const OP_NONE = 0, OP_GEMM = 1, OP_ADAM = 2;
/** Adam on fewer parameters than this runs on the calling thread. */
const MIN_PARALLEL_ADAM = 1 << 16;
/** Below this many multiply-adds a product runs on the calling thread (waking threads costs ~10 µs). */
const MIN_PARALLEL_MACS = 1 << 18;

interface InitMessage { module: WebAssembly.Module; memory: WebAssembly.Memory; control: SharedArrayBuffer; index: number }

export class ThreadPool {
  private readonly ctrl: Int32Array;
  private readonly ctrlF: Float32Array;
  private work: { ptr: number; floats: number }[];

  private constructor(private readonly threads: ThreadEndpoint[], control: SharedArrayBuffer,
    private readonly k: PoolExports, private readonly arena: Arena) {
    this.ctrl = new Int32Array(control);
    this.ctrlF = new Float32Array(control);
    this.work = Array.from({ length: threads.length + 1 }, () => ({ ptr: 0, floats: 0 }));
  }

  /** Total threads including the calling (engine) thread. */
  get size(): number {
    return this.threads.length + 1;
  }

  static async start(count: number, spawn: SpawnThread, module: WebAssembly.Module, memory: WebAssembly.Memory,
    k: PoolExports, arena: Arena): Promise<ThreadPool> {
    const control = new SharedArrayBuffer(4 * (ARGS + STRIDE * count));
    const threads: ThreadEndpoint[] = [];
    try {
      await Promise.all(Array.from({ length: count - 1 }, (_, i) => {
        const t = spawn();
        threads.push(t);
        return new Promise<void>((resolve, reject) => {
          t.onMessage((m) => (m === 'ready' ? resolve() : reject(new Error(`kernel thread ${i + 1}: ${String(m)}`))));
          t.onError(reject);
          t.postMessage({ module, memory, control, index: i + 1 } satisfies InitMessage);
        });
      }));
    } catch (e) {
      for (const t of threads) t.terminate();
      throw e;
    }
    return new ThreadPool(threads, control, k, arena);
  }

  private scratch(t: number, floats: number): number {
    const w = this.work[t];
    if (floats > w.floats) {
      if (w.ptr) this.arena.free(w.ptr);
      w.ptr = this.arena.alloc(floats * 4);
      w.floats = floats;
    }
    return w.ptr;
  }

  gemm(tA: number, tB: number, M: number, N: number, K: number, alpha: number, A: number, lda: number,
    B: number, ldb: number, beta: number, C: number, ldc: number, mask = 0): void {
    const T = this.size;
    const splitN = N >= 32 * T;
    // Skinny products (LoRA factors) are cheap and take another loop: never split them, so each
    // element of C goes through the same path whatever the thread count.
    if (M * N * K < MIN_PARALLEL_MACS || this.k.isSkinny(M, N, K) || (!splitN && M < 16 * T)) {
      this.k.gemm(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, this.scratch(0, this.k.gemmWorkFloats(M, N, K)), mask);
      return;
    }
    // Slice t covers [lo, hi) of the split dimension; slices are multiples of 8 (the tile width),
    // the last one at least 8 too (so no slice is skinny).
    const total = splitN ? N : M;
    const chunk = Math.ceil(total / T / 8) * 8;
    if (total - (T - 1) * chunk < 8) {
      this.k.gemm(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, this.scratch(0, this.k.gemmWorkFloats(M, N, K)), mask);
      return;
    }
    for (let t = T - 1; t >= 0; t--) {
      const lo = Math.min(total, t * chunk), hi = Math.min(total, lo + chunk);
      const m = splitN ? M : hi - lo, n = splitN ? hi - lo : N;
      // Offsets of the slice: columns of op(B) and C, or rows of op(A) and C.
      const a = splitN ? A : A + 4 * lo * (tA ? 1 : lda);
      const b = splitN ? B + 4 * lo * (tB ? ldb : 1) : B;
      const c = splitN ? C + 4 * lo : C + 4 * lo * ldc;
      const msk = !mask ? 0 : splitN ? mask + 4 * lo : mask + 4 * lo * ldc; // the mask has C's layout
      const work = hi > lo ? this.scratch(t, this.k.gemmWorkFloats(m, n, K)) : 0;
      if (t === 0) {
        this.launch();
        if (hi > lo) this.k.gemm(tA, tB, m, n, K, alpha, a, lda, b, ldb, beta, c, ldc, work, msk);
        this.join();
        return;
      }
      const base = ARGS + STRIDE * t;
      const ctrl = this.ctrl;
      ctrl[base + ARG.op] = hi > lo ? OP_GEMM : OP_NONE;
      ctrl[base + ARG.tA] = tA; ctrl[base + ARG.tB] = tB;
      ctrl[base + ARG.M] = m; ctrl[base + ARG.N] = n; ctrl[base + ARG.K] = K;
      ctrl[base + ARG.A] = a; ctrl[base + ARG.lda] = lda;
      ctrl[base + ARG.B] = b; ctrl[base + ARG.ldb] = ldb;
      ctrl[base + ARG.C] = c; ctrl[base + ARG.ldc] = ldc;
      ctrl[base + ARG.work] = work;
      ctrl[base + ARG.mask] = msk;
      this.ctrlF[base + ARG.alpha] = alpha;
      this.ctrlF[base + ARG.beta] = beta;
    }
  }

  /** Adam over n parameters, split in contiguous slices (element-wise: any split is exact). */
  adam(w: number, g: number, m: number, v: number, n: number, stepSize: number, beta1: number, beta2: number,
    c1: number, c2: number, eps: number, inv: number): void {
    const T = this.size;
    if (n < MIN_PARALLEL_ADAM) {
      this.k.adam(w, g, m, v, n, stepSize, beta1, beta2, c1, c2, eps, inv);
      return;
    }
    const chunk = Math.ceil(n / T / 16) * 16;
    for (let t = 1; t < T; t++) {
      const lo = Math.min(n, t * chunk), hi = Math.min(n, lo + chunk);
      const base = ARGS + STRIDE * t, ctrl = this.ctrl, f = this.ctrlF;
      ctrl[base] = hi > lo ? OP_ADAM : OP_NONE;
      ctrl[base + ADAM.w] = w + 4 * lo; ctrl[base + ADAM.g] = g + 4 * lo;
      ctrl[base + ADAM.m] = m + 4 * lo; ctrl[base + ADAM.v] = v + 4 * lo;
      ctrl[base + ADAM.n] = hi - lo;
      f[base + ADAM.stepSize] = stepSize; f[base + ADAM.beta1] = beta1; f[base + ADAM.beta2] = beta2;
      f[base + ADAM.c1] = c1; f[base + ADAM.c2] = c2; f[base + ADAM.eps] = eps; f[base + ADAM.inv] = inv;
    }
    this.launch();
    this.k.adam(w, g, m, v, Math.min(n, chunk), stepSize, beta1, beta2, c1, c2, eps, inv);
    this.join();
  }

  private launch(): void {
    Atomics.store(this.ctrl, PENDING, this.threads.length);
    Atomics.add(this.ctrl, GEN, 1);
    Atomics.notify(this.ctrl, GEN);
  }

  private join(): void {
    for (;;) {
      const p = Atomics.load(this.ctrl, PENDING);
      if (p === 0) break;
      Atomics.wait(this.ctrl, PENDING, p);
    }
    const failed = Atomics.exchange(this.ctrl, FAILED, 0);
    if (failed) throw new Error(`kernel thread ${failed} failed during a product (its console has the error); the engine cannot continue`);
  }

  close(): void {
    Atomics.store(this.ctrl, SHUTDOWN, 1);
    Atomics.add(this.ctrl, GEN, 1);
    Atomics.notify(this.ctrl, GEN);
    for (const t of this.threads) t.terminate();
    for (const w of this.work) if (w.ptr) this.arena.free(w.ptr);
    this.work = [];
  }
}

/**
 * The kernel thread's side: called by the worker entries with their message port. Instantiates the
 * module on the shared memory, says 'ready', then sleeps until the engine bumps the generation.
 */
export function serveKernelThread(port: { postMessage(m: unknown): void; onMessage(l: (m: unknown) => void): void }): void {
  port.onMessage(async (message) => {
    const { module, memory, control, index } = message as InitMessage;
    let k: PoolExports;
    try {
      k = (await WebAssembly.instantiate(module, { env: { memory } })).exports as unknown as PoolExports;
    } catch (e) {
      port.postMessage(`could not instantiate the kernels: ${(e as Error).message}`);
      return;
    }
    const ctrl = new Int32Array(control), ctrlF = new Float32Array(control);
    const base = ARGS + STRIDE * index;
    // Read the generation BEFORE saying ready: the engine may launch a job as soon as it hears it.
    let seen = Atomics.load(ctrl, GEN);
    port.postMessage('ready');
    for (;;) {
      Atomics.wait(ctrl, GEN, seen); // sleeps; no spinning
      seen = Atomics.load(ctrl, GEN);
      if (Atomics.load(ctrl, SHUTDOWN)) return;
      const op = ctrl[base + ARG.op];
      try {
        if (op === OP_ADAM) {
          k.adam(ctrl[base + ADAM.w] >>> 0, ctrl[base + ADAM.g] >>> 0, ctrl[base + ADAM.m] >>> 0, ctrl[base + ADAM.v] >>> 0,
            ctrl[base + ADAM.n], ctrlF[base + ADAM.stepSize], ctrlF[base + ADAM.beta1], ctrlF[base + ADAM.beta2],
            ctrlF[base + ADAM.c1], ctrlF[base + ADAM.c2], ctrlF[base + ADAM.eps], ctrlF[base + ADAM.inv]);
        } else if (op === OP_GEMM) {
          k.gemm(ctrl[base + ARG.tA], ctrl[base + ARG.tB], ctrl[base + ARG.M], ctrl[base + ARG.N], ctrl[base + ARG.K],
            ctrlF[base + ARG.alpha], ctrl[base + ARG.A] >>> 0, ctrl[base + ARG.lda], ctrl[base + ARG.B] >>> 0, ctrl[base + ARG.ldb],
            ctrlF[base + ARG.beta], ctrl[base + ARG.C] >>> 0, ctrl[base + ARG.ldc], ctrl[base + ARG.work] >>> 0, ctrl[base + ARG.mask] >>> 0);
        }
      } catch (e) {
        // Never leave the engine waiting: report the failure through the control block.
        console.error(`kernel thread ${index}: ${(e as Error).message}`);
        Atomics.store(ctrl, FAILED, index);
      }
      if (Atomics.sub(ctrl, PENDING, 1) === 1) Atomics.notify(ctrl, PENDING);
    }
  });
}
