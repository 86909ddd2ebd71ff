// The wasm kernel set: TS does the shapes and the memory (arena.ts), AssemblyScript does the loops
// (assembly/). Each method forwards pointers and sizes to one export of the module.

import { Arena } from './arena.js';
import { ThreadPool, type SpawnThread } from './threads.js';
import type { Buf, DType, HostArray, Kernels } from './kernels.js';

export type SimdFlavour = 'relaxed' | 'simd';

interface WasmBuf extends Buf {
  readonly ptr: number;
}

interface KernelExports {
  gemm(tA: number, tB: number, M: number, N: number, K: number, alpha: number, A: number, lda: number,
    B: number, ldb: number, beta: number, C: number, ldc: number, work: number, mask: number): void;
  gemmWorkFloats(M: number, N: number, K: number): number;
  isSkinny(M: number, N: number, K: number): number;
  reluDropoutForward(x: number, n: number, key: number, threshold: number, scale: number): void;
  reluDropoutBackward(g: number, a: number, n: number, scale: number): void;
  gatherRows(images: number, labels: number, rowLen: number, idx: number, count: number, scale: number,
    out: number, outLabels: number): void;
  gatherRowsF32(src: number, rowLen: number, idx: number, count: number, out: number): void;
  logSoftmaxNll(z: number, labels: number, m: number, n: number, grad: number, gradScale: number, argmax: number): number;
  adam(w: number, g: number, m: number, v: number, n: number, stepSize: number, beta1: number, beta2: number,
    oneMinusBeta1: number, oneMinusBeta2: number, eps: number, invSqrtBc2: number): void;
}

const BYTES: Record<DType, number> = { f32: 4, i32: 4, u8: 1 };

export class WasmKernels implements Kernels {
  readonly name: string;
  readonly arena: Arena;
  private readonly k: KernelExports;
  private work = 0;
  private workFloats = 0;
  private pool: ThreadPool | null = null;

  private constructor(instance: WebAssembly.Instance, readonly memory: WebAssembly.Memory, readonly flavour: SimdFlavour) {
    this.k = instance.exports as unknown as KernelExports;
    this.arena = new Arena(memory);
    this.name = `wasm-${flavour === 'relaxed' ? 'relaxed-simd' : 'simd'}`;
  }

  /**
   * One-thread set on private memory, or — with `threads` > 1 and a module built for shared
   * memory — a set whose products are split across `threads` − 1 kernel threads plus this one.
   */
  static async create(module: WebAssembly.Module, flavour: SimdFlavour,
    opts: { threads?: number; spawnThread?: SpawnThread } = {}): Promise<WasmKernels> {
    const threads = opts.threads ?? 1;
    const memory = threads > 1
      ? new WebAssembly.Memory({ initial: 16, maximum: 65536, shared: true })
      : new WebAssembly.Memory({ initial: 16 });
    const instance = await WebAssembly.instantiate(module, { env: { memory } });
    const set = new WasmKernels(instance, memory, flavour);
    if (threads > 1) {
      if (!opts.spawnThread) throw new Error('threads > 1 needs a way to start kernel threads on this platform');
      set.pool = await ThreadPool.start(threads, opts.spawnThread, module, memory, set.k, set.arena);
    }
    return set;
  }

  /** Threads that run the products (1 without a pool). */
  get threads(): number {
    return this.pool?.size ?? 1;
  }

  /** Stops the kernel threads. */
  close(): void {
    this.pool?.close();
    this.pool = null;
  }

  alloc(dtype: DType, length: number): Buf {
    if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`alloc: bad length ${length}`);
    const ptr = this.arena.alloc(length * BYTES[dtype]);
    new Uint8Array(this.memory.buffer, ptr, length * BYTES[dtype]).fill(0);
    return { dtype, length, ptr } as WasmBuf;
  }
  free(buf: Buf): void {
    this.arena.free((buf as WasmBuf).ptr);
  }
  /** A view of the buffer's memory (valid until the next allocation, which may grow memory). */
  view(buf: Buf, length = buf.length): HostArray {
    const { ptr, dtype } = buf as WasmBuf;
    const mem = this.memory.buffer;
    return dtype === 'f32' ? new Float32Array(mem, ptr, length)
      : dtype === 'i32' ? new Int32Array(mem, ptr, length) : new Uint8Array(mem, ptr, length);
  }
  write(buf: Buf, src: ArrayLike<number>, offset = 0): void {
    if (offset + src.length > buf.length) throw new RangeError(`write: ${src.length} elements at ${offset} overflow a buffer of ${buf.length}`);
    this.view(buf).set(src, offset);
  }
  read(buf: Buf, length = buf.length): HostArray {
    return this.view(buf, length).slice();
  }
  zero(buf: Buf, n = buf.length): void {
    this.view(buf, n).fill(0);
  }
  copy(src: Buf, dst: Buf, n: number, srcOffset = 0, dstOffset = 0): void {
    if (src.dtype !== dst.dtype) throw new TypeError(`copy: ${src.dtype} → ${dst.dtype}`);
    for (const [b, o] of [[src, srcOffset], [dst, dstOffset]] as const) {
      if (o < 0 || n < 0 || o + n > b.length) throw new RangeError(`copy: elements [${o}, ${o + n}) are outside a buffer of ${b.length}`);
    }
    const w = BYTES[src.dtype];
    new Uint8Array(this.memory.buffer).copyWithin(p(dst) + dstOffset * w, p(src) + srcOffset * w, p(src) + (srcOffset + n) * w);
  }
  gatherRowsF32(src: Buf, rowLen: number, idx: Buf, count: number, out: Buf): void {
    this.k.gatherRowsF32(p(src), rowLen, p(idx), count, p(out));
  }

  /** Raw bytes of a buffer (copy), e.g. for hashing frozen weights. */
  bytes(buf: Buf): Uint8Array {
    const { ptr, dtype, length } = buf as WasmBuf;
    return new Uint8Array(this.memory.buffer, ptr, length * BYTES[dtype]).slice();
  }

  gemm(transA: boolean, transB: boolean, M: number, N: number, K: number,
    alpha: number, A: Buf, B: Buf, beta: 0 | 1, C: Buf, skipColumnsOf?: Buf): void {
    const mask = skipColumnsOf ? p(skipColumnsOf) : 0;
    if (this.pool) {
      this.pool.gemm(+transA, +transB, M, N, K, alpha, p(A), transA ? M : K, p(B), transB ? K : N, beta, p(C), N, mask);
      return;
    }
    const need = this.k.gemmWorkFloats(M, N, K);
    if (need > this.workFloats) {
      if (this.work) this.arena.free(this.work);
      this.workFloats = need;
      this.work = this.arena.alloc(need * 4);
    }
    this.k.gemm(+transA, +transB, M, N, K, alpha, p(A), transA ? M : K, p(B), transB ? K : N,
      beta, p(C), N, this.work, mask);
  }
  reluDropoutForward(x: Buf, n: number, key: number, threshold: number, scale: number): void {
    this.k.reluDropoutForward(p(x), n, key, threshold, scale);
  }
  reluDropoutBackward(g: Buf, a: Buf, n: number, scale: number): void {
    this.k.reluDropoutBackward(p(g), p(a), n, scale);
  }
  gatherRows(images: Buf, labels: Buf, rowLen: number, idx: Buf, count: number, scale: number,
    out: Buf, outLabels: Buf): void {
    this.k.gatherRows(p(images), p(labels), rowLen, p(idx), count, scale, p(out), p(outLabels));
  }
  logSoftmaxNll(z: Buf, labels: Buf | null, m: number, n: number, grad: Buf | null,
    gradScale: number, argmax: Buf | null): number {
    return this.k.logSoftmaxNll(p(z), labels ? p(labels) : 0, m, n, grad ? p(grad) : 0, gradScale, argmax ? p(argmax) : 0);
  }
  adam(w: Buf, g: Buf, m: Buf, v: Buf, n: number, stepSize: number, beta1: number,
    beta2: number, eps: number, invSqrtBc2: number): void {
    if (this.pool) this.pool.adam(p(w), p(g), p(m), p(v), n, stepSize, beta1, beta2, 1 - beta1, 1 - beta2, eps, invSqrtBc2);
    else this.k.adam(p(w), p(g), p(m), p(v), n, stepSize, beta1, beta2, 1 - beta1, 1 - beta2, eps, invSqrtBc2);
  }
}

function p(buf: Buf): number {
  return (buf as WasmBuf).ptr;
}
