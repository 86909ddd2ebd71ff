// The step program: forward, loss, full backward, LoRA-only backward and Adam, written once
// against the kernel interface (kernels.ts). Every backend runs exactly this code.
//
// Notation (one layer l of an L-layer MLP, batch of b rows, no biases):
//   h_l   input of layer l, b×in (h_0 = x)            W_l   in×out, row-major (x·W layout)
//   z_l = h_l·W_l + s·(h_l·A_lᵀ)·B_lᵀ                  A_l   r×in, B_l out×r (PEFT), s = α/r
//   h_{l+1} = dropout(relu(z_l))  for hidden layers;  z_{L−1} are the logits
//   loss = mean_i −log_softmax(z_{L−1})[i, y_i]
// The LoRA term is kept factored: u_l = h_l·A_lᵀ (b×r), then u_l·B_lᵀ — never a dense B·A.
//
// Backward, with g = ∂loss/∂z_l (b×out), from the last layer down:
//   full   ∂W_l = h_lᵀ·g                              (in×out)
//   LoRA   ∂B_l = s·gᵀ·u_l  (out×r)    ĝu = s·g·B_l (b×r)    ∂A_l = ĝuᵀ·h_l  (r×in)
//   input  ∂h_l = g·W_lᵀ (+ ĝu·A_l with LoRA), then through relu+dropout of the layer below:
//          g_{l−1} = ∂h_l ⊙ [h_l > 0]·1/(1−p)
// LoRA-only backward computes no ∂W and stops at the lowest adapted layer (no input gradient
// for layer 0, nor below the lowest adapter).

import type { Buf, Kernels } from './kernels.js';
import { dropoutThreshold, streamKey, Stream } from './rng.js';

export interface LoraState {
  r: number;
  alpha: number;
  /** s = α/r */
  scale: number;
  /** A[l] (r×in) and B[l] (out×r) for adapted layers, null elsewhere. */
  A: (Buf | null)[];
  B: (Buf | null)[];
}

export interface ModelState {
  sizes: number[];
  dropout: number;
  seed: number;
  /** Base weights W[l], in×out. Frozen (never written) once `lora` is set. */
  W: Buf[];
  lora: LoraState | null;
  /** Training steps taken so far (base and adapters): the RNG position of the model. */
  step: number;
}

/** Per-batch buffers, sized for `capacity` rows. */
export interface Workspace {
  capacity: number;
  x: Buf; // h_0
  labels: Buf; // i32
  idx: Buf; // i32 row indices of the batch
  pos: Buf; // i32 rows of the batch in a first-layer cache
  argmax: Buf; // i32
  h: Buf[]; // h[l] = input of layer l (h[0] = x), h[L] = logits
  u: (Buf | null)[]; // u[l] = h_l·A_lᵀ
  g: [Buf, Buf]; // ping-pong ∂z / ∂h, capacity × max width
  gu: Buf | null; // b×r
}

export interface Grads {
  W: Buf[] | null;
  A: (Buf | null)[];
  B: (Buf | null)[];
}

export function layers(m: ModelState): number {
  return m.sizes.length - 1;
}

export function createWorkspace(k: Kernels, m: ModelState, capacity: number): Workspace {
  const L = layers(m);
  const width = Math.max(...m.sizes);
  const h: Buf[] = [k.alloc('f32', capacity * m.sizes[0])];
  for (let l = 1; l <= L; l++) h.push(k.alloc('f32', capacity * m.sizes[l]));
  const r = m.lora?.r ?? 0;
  return {
    capacity,
    x: h[0],
    labels: k.alloc('i32', capacity),
    idx: k.alloc('i32', capacity),
    pos: k.alloc('i32', capacity),
    argmax: k.alloc('i32', capacity),
    h,
    u: h.slice(0, L).map((_, l) => (m.lora?.A[l] ? k.alloc('f32', capacity * r) : null)),
    g: [k.alloc('f32', capacity * width), k.alloc('f32', capacity * width)],
    gu: r ? k.alloc('f32', capacity * r) : null,
  };
}

export function freeWorkspace(k: Kernels, ws: Workspace): void {
  for (const b of [ws.labels, ws.idx, ws.pos, ws.argmax, ...ws.h, ...ws.g]) k.free(b);
  for (const b of ws.u) if (b) k.free(b);
  if (ws.gu) k.free(ws.gu);
}

/** Dropout of one forward pass: the stream keys come from (seed, step, layer). */
export interface DropoutPlan {
  keys: number[];
  threshold: number;
  scale: number;
}

export function dropoutPlan(m: ModelState, step: number): DropoutPlan | null {
  if (m.dropout === 0) return null;
  return {
    keys: m.sizes.slice(1, -1).map((_, l) => streamKey(m.seed, Stream.dropout, step, l)),
    threshold: dropoutThreshold(m.dropout),
    // Rounded to f32 here so every kernel set multiplies by the same value.
    scale: Math.fround(1 / (1 - m.dropout)),
  };
}

/**
 * Forward pass over ws.x[0..b): leaves every layer input in ws.h and the logits in ws.h[L].
 * With `baseLayer0Ready` the caller has already put x·W_0 into ws.h[1] (from a cache of the
 * frozen first layer's product): only the LoRA term and the activation are applied there.
 */
export function forward(k: Kernels, m: ModelState, ws: Workspace, b: number, drop: DropoutPlan | null, baseLayer0Ready = false): void {
  const L = layers(m);
  for (let l = 0; l < L; l++) {
    const nIn = m.sizes[l], nOut = m.sizes[l + 1];
    const z = ws.h[l + 1];
    if (l > 0 || !baseLayer0Ready) k.gemm(false, false, b, nOut, nIn, 1, ws.h[l], m.W[l], 0, z);
    const A = m.lora?.A[l], B = m.lora?.B[l], u = ws.u[l];
    if (A && B && u) {
      k.gemm(false, true, b, m.lora!.r, nIn, 1, ws.h[l], A, 0, u);
      k.gemm(false, true, b, nOut, m.lora!.r, m.lora!.scale, u, B, 1, z);
    }
    if (l < L - 1) {
      if (drop) k.reluDropoutForward(z, b * nOut, drop.keys[l], drop.threshold, drop.scale);
      else k.reluDropoutForward(z, b * nOut, 0, 0, 1);
    }
  }
}

/** Mean NLL of the logits against ws.labels; writes ∂loss/∂logits into ws.g[0]. */
export function lossAndGrad(k: Kernels, m: ModelState, ws: Workspace, b: number): number {
  const L = layers(m);
  return k.logSoftmaxNll(ws.h[L], ws.labels, b, m.sizes[L], ws.g[0], 1 / b, ws.argmax) / b;
}

/**
 * Backward from ∂loss/∂logits in ws.g[0]. mode 'full' fills grads.W (every layer); mode 'lora'
 * fills grads.A/B of adapted layers only and computes nothing for frozen weights.
 */
export function backward(k: Kernels, m: ModelState, ws: Workspace, b: number, drop: DropoutPlan | null,
  grads: Grads, mode: 'full' | 'lora'): void {
  const L = layers(m);
  const lora = m.lora;
  if (mode === 'lora' && !lora) throw new Error('backward: LoRA mode on a model without adapters');
  // The lowest layer whose parameters train: no gradient is propagated below it.
  const lowest = mode === 'full' ? 0 : lora!.A.findIndex((a) => a !== null);
  let g = 0; // ws.g[g] holds ∂loss/∂z_l
  for (let l = L - 1; l >= lowest; l--) {
    const nIn = m.sizes[l], nOut = m.sizes[l + 1];
    const gz = ws.g[g], gh = ws.g[1 - g];
    const A = lora?.A[l], B = lora?.B[l];
    const adapted = mode === 'lora' && A && B;
    if (mode === 'full') {
      k.gemm(true, false, nIn, nOut, b, 1, ws.h[l], gz, 0, grads.W![l]);
    } else if (adapted) {
      const s = lora!.scale, r = lora!.r;
      k.gemm(true, false, nOut, r, b, s, gz, ws.u[l]!, 0, grads.B[l]!);
      k.gemm(false, false, b, r, nOut, s, gz, B, 0, ws.gu!);
      k.gemm(true, false, r, nIn, b, 1, ws.gu!, ws.h[l], 0, grads.A[l]!);
    }
    if (l === lowest) break;
    // ∂h_l, then through the relu+dropout that produced h_l.
    // Columns of units that were 0 for the whole batch are zeroed by the ReLU backward below:
    // h_l tells the kernels they need not be computed (dead units: most of fc1 after an epoch).
    k.gemm(false, true, b, nIn, nOut, 1, gz, m.W[l], 0, gh, ws.h[l]);
    if (adapted) k.gemm(false, false, b, nIn, lora!.r, 1, ws.gu!, A, 1, gh);
    k.reluDropoutBackward(gh, ws.h[l], b * nIn, drop ? drop.scale : 1);
    g = 1 - g;
  }
}

export interface AdamConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
}

/** Adam state for a list of parameters (moments m, v per parameter and the step count t). */
export interface AdamState {
  t: number;
  m: Buf[];
  v: Buf[];
}

export function createAdam(k: Kernels, params: Buf[]): AdamState {
  return { t: 0, m: params.map((p) => k.alloc('f32', p.length)), v: params.map((p) => k.alloc('f32', p.length)) };
}

export function freeAdam(k: Kernels, s: AdamState): void {
  for (const b of [...s.m, ...s.v]) k.free(b);
}

export function adamStep(k: Kernels, params: Buf[], grads: Buf[], s: AdamState, cfg: AdamConfig): void {
  s.t += 1;
  const bc1 = 1 - Math.pow(cfg.beta1, s.t);
  const bc2 = 1 - Math.pow(cfg.beta2, s.t);
  const stepSize = cfg.lr / bc1;
  const invSqrtBc2 = 1 / Math.sqrt(bc2);
  for (let i = 0; i < params.length; i++) {
    k.adam(params[i], grads[i], s.m[i], s.v[i], params[i].length, stepSize, cfg.beta1, cfg.beta2, cfg.eps, invSqrtBc2);
  }
}

/** The trainable parameters of a model in its current mode, in a fixed order. */
export function trainableParams(m: ModelState): Buf[] {
  if (!m.lora) return m.W.slice();
  const out: Buf[] = [];
  m.lora.A.forEach((a, l) => { if (a) out.push(a, m.lora!.B[l]!); });
  return out;
}

export function allocGrads(k: Kernels, m: ModelState): Grads {
  if (!m.lora) return { W: m.W.map((w) => k.alloc('f32', w.length)), A: [], B: [] };
  return {
    W: null,
    A: m.lora.A.map((a) => (a ? k.alloc('f32', a.length) : null)),
    B: m.lora.B.map((b) => (b ? k.alloc('f32', b.length) : null)),
  };
}

export function gradList(m: ModelState, g: Grads): Buf[] {
  if (!m.lora) return g.W!.slice();
  const out: Buf[] = [];
  g.A.forEach((a, l) => { if (a) out.push(a, g.B[l]!); });
  return out;
}

export function freeGrads(k: Kernels, g: Grads): void {
  for (const b of [...(g.W ?? []), ...g.A, ...g.B]) if (b) k.free(b);
}
