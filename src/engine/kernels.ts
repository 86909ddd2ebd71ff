// The kernel interface: the only thing a backend (wasm, WebGL, reference) implements. The step
// program (step.ts) is written once against it; kernel sets supply storage and primitives and
// never see a model, a layer or a gradient formula.
//
// Layout conventions, shared by every set:
//  - matrices are dense row-major; a buffer may hold more rows than an op uses (workspaces are
//    sized for the largest batch), ops take their sizes explicitly;
//  - f32 buffers hold activations, weights, gradients, optimizer moments; i32 buffers hold
//    labels, batch indices and argmax results; u8 buffers hold dataset pixels and labels.

export type DType = 'f32' | 'i32' | 'u8';

/** An opaque handle to storage owned by a kernel set. */
export interface Buf {
  readonly dtype: DType;
  readonly length: number;
}

export type HostArray = Float32Array | Int32Array | Uint8Array;

export interface Kernels {
  /** e.g. "wasm-relaxed-simd", "reference-f64". */
  readonly name: string;

  /** Zero-filled storage of `length` elements. */
  alloc(dtype: DType, length: number): Buf;
  free(buf: Buf): void;
  /** Copies `src` into `buf` starting at element `offset`. */
  write(buf: Buf, src: ArrayLike<number>, offset?: number): void;
  /** Copies `length` elements (default all) out of `buf`. */
  read(buf: Buf, length?: number): HostArray;
  /** buf[0..n) = 0. */
  zero(buf: Buf, n?: number): void;
  /** dst[dstOffset + i] = src[srcOffset + i] for i < n (same dtype). */
  copy(src: Buf, dst: Buf, n: number, srcOffset?: number, dstOffset?: number): void;

  /**
   * C[M×N] = alpha · op(A) · op(B) + beta · C, beta ∈ {0, 1}, dense row-major operands:
   * op(A) = transA ? Aᵀ (A is K×M) : A (M×K);  op(B) = transB ? Bᵀ (B is N×K) : B (K×N).
   * `skipColumnsOf` (M×N, optional hint): columns j where it is all zero may be left as alpha·0
   * (beta 0) or unchanged (beta 1) instead of computed — for products whose result is masked by
   * that matrix afterwards (∂h of a ReLU layer). A set may ignore the hint.
   */
  gemm(transA: boolean, transB: boolean, M: number, N: number, K: number,
    alpha: number, A: Buf, B: Buf, beta: 0 | 1, C: Buf, skipColumnsOf?: Buf): void;

  /**
   * In place over n floats: x = x > 0 && keep ? x·scale : 0, keep = (bits(key,i)>>>8) ≥ threshold.
   * threshold 0 = no dropout.
   */
  reluDropoutForward(x: Buf, n: number, key: number, threshold: number, scale: number): void;
  /** In place: g = a > 0 ? g·scale : 0, a being reluDropoutForward's output. */
  reluDropoutBackward(g: Buf, a: Buf, n: number, scale: number): void;

  /** out[r][·] = images[idx[r]][·]·scale (u8 → f32), outLabels[r] = labels[idx[r]], r < count. */
  gatherRows(images: Buf, labels: Buf, rowLen: number, idx: Buf, count: number, scale: number,
    out: Buf, outLabels: Buf): void;

  /** out[r][·] = src[idx[r]][·] for r < count: rows of rowLen floats (cached layer outputs). */
  gatherRowsF32(src: Buf, rowLen: number, idx: Buf, count: number, out: Buf): void;

  /**
   * Fused log-softmax + NLL over m rows of n logits; returns Σ −log p(y). grad (if given) gets
   * gradScale·(softmax − onehot); argmax (if given) the predicted classes. labels may be null
   * (prediction only: returns 0).
   */
  logSoftmaxNll(z: Buf, labels: Buf | null, m: number, n: number, grad: Buf | null,
    gradScale: number, argmax: Buf | null): number;

  /** Bias-corrected Adam over n parameters (see assembly/elementwise.ts for the formula). */
  adam(w: Buf, g: Buf, m: Buf, v: Buf, n: number, stepSize: number, beta1: number,
    beta2: number, eps: number, invSqrtBc2: number): void;
}
