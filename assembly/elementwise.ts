// Element-wise kernels: ReLU + dropout forward/backward, batch gather, Adam.
import { hash32, hash32x4 } from "./rng";

// In place: x[i] = x[i] > 0 && keep(i) ? x[i]·scale : 0, over n floats.
// keep(i) = (bits(key, i) >>> 8) >= threshold, threshold = round(p·2²⁴); threshold 0 disables
// dropout (evaluation) and scale is then 1. Inverted dropout: kept units are scaled by 1/(1−p).
// The output alone is enough for the backward pass (a unit passed iff its output is > 0), so no
// mask is stored.
export function reluDropoutForward(x: usize, n: i32, key: u32, threshold: u32, scale: f32): void {
  const zero = f32x4.splat(0);
  const vs = f32x4.splat(scale);
  let i = 0;
  if (threshold == 0) {
    for (; i + 4 <= n; i += 4) {
      const p = x + (<usize>i << 2);
      v128.store(p, f32x4.mul(f32x4.max(v128.load(p), zero), vs));
    }
    for (; i < n; i++) {
      const p = x + (<usize>i << 2);
      const v = load<f32>(p);
      store<f32>(p, v > 0 ? v * scale : 0);
    }
    return;
  }
  const vkey = i32x4.splat(key);
  const vthr = i32x4.splat(threshold);
  let idx = i32x4(0, 1, 2, 3);
  const four = i32x4.splat(4);
  for (; i + 4 <= n; i += 4) {
    const p = x + (<usize>i << 2);
    const bits = hash32x4(i32x4.add(vkey, hash32x4(idx)));
    const keep = i32x4.ge_u(i32x4.shr_u(bits, 8), vthr);
    const v = v128.load(p);
    const pos = f32x4.gt(v, zero);
    v128.store(p, v128.and(f32x4.mul(v, vs), v128.and(keep, pos)));
    idx = i32x4.add(idx, four);
  }
  for (; i < n; i++) {
    const p = x + (<usize>i << 2);
    const v = load<f32>(p);
    const keep = (hash32(key + hash32(<u32>i)) >>> 8) >= threshold;
    store<f32>(p, v > 0 && keep ? v * scale : 0);
  }
}

// In place: g[i] = a[i] > 0 ? g[i]·scale : 0, where a is the forward output above.
export function reluDropoutBackward(g: usize, a: usize, n: i32, scale: f32): void {
  const zero = f32x4.splat(0);
  const vs = f32x4.splat(scale);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const pos = f32x4.gt(v128.load(a + o), zero);
    v128.store(g + o, v128.and(f32x4.mul(v128.load(g + o), vs), pos));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(g + o, load<f32>(a + o) > 0 ? load<f32>(g + o) * scale : 0);
  }
}

// Batch assembly: for r < count, out[r][c] = f32(images[idx[r]][c]) · scale (rowLen bytes a row)
// and outLabels[r] = labels[idx[r]]. Images stay u8 in memory (4× smaller than f32).
export function gatherRows(
  images: usize, labels: usize, rowLen: i32, idx: usize, count: i32,
  scale: f32, out: usize, outLabels: usize,
): void {
  const vs = f32x4.splat(scale);
  for (let r = 0; r < count; r++) {
    const row = load<i32>(idx + (<usize>r << 2));
    const src = images + <usize>row * rowLen;
    const dst = out + <usize>r * rowLen * 4;
    let c = 0;
    for (; c + 16 <= rowLen; c += 16) {
      const b = v128.load(src + c);
      const lo = i16x8.extend_low_i8x16_u(b);
      const hi = i16x8.extend_high_i8x16_u(b);
      const d = dst + (<usize>c << 2);
      v128.store(d, f32x4.mul(f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(lo)), vs));
      v128.store(d, f32x4.mul(f32x4.convert_i32x4_u(i32x4.extend_high_i16x8_u(lo)), vs), 16);
      v128.store(d, f32x4.mul(f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(hi)), vs), 32);
      v128.store(d, f32x4.mul(f32x4.convert_i32x4_u(i32x4.extend_high_i16x8_u(hi)), vs), 48);
    }
    for (; c < rowLen; c++) {
      store<f32>(dst + (<usize>c << 2), <f32>load<u8>(src + c) * scale);
    }
    store<i32>(outLabels + (<usize>r << 2), load<u8>(labels + row));
  }
}

// Bias-corrected Adam (Kingma & Ba; PyTorch's placement of ε), over n parameters:
//   m ← β1·m + (1−β1)·g        v ← β2·v + (1−β2)·g²
//   w ← w − stepSize · m / (√v · invSqrtBc2 + ε)
// with stepSize = lr/(1−β1ᵗ) and invSqrtBc2 = 1/√(1−β2ᵗ) computed once per step by the caller,
// and 1−β passed in (computed in f64 by the caller: 1 − f32(0.9) would be 3 ulps off 0.1).
export function adam(
  w: usize, g: usize, m: usize, v: usize, n: i32,
  stepSize: f32, beta1: f32, beta2: f32, oneMinusBeta1: f32, oneMinusBeta2: f32, eps: f32, invSqrtBc2: f32,
): void {
  const b1 = f32x4.splat(beta1), c1 = f32x4.splat(oneMinusBeta1);
  const b2 = f32x4.splat(beta2), c2 = f32x4.splat(oneMinusBeta2);
  const ve = f32x4.splat(eps), vss = f32x4.splat(stepSize), vib = f32x4.splat(invSqrtBc2);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const gi = v128.load(g + o);
    const mi = f32x4.add(f32x4.mul(b1, v128.load(m + o)), f32x4.mul(c1, gi));
    const vi = f32x4.add(f32x4.mul(b2, v128.load(v + o)), f32x4.mul(c2, f32x4.mul(gi, gi)));
    v128.store(m + o, mi);
    v128.store(v + o, vi);
    const denom = f32x4.add(f32x4.mul(f32x4.sqrt(vi), vib), ve);
    v128.store(w + o, f32x4.sub(v128.load(w + o), f32x4.div(f32x4.mul(vss, mi), denom)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const gi = load<f32>(g + o);
    const mi = beta1 * load<f32>(m + o) + oneMinusBeta1 * gi;
    const vi = beta2 * load<f32>(v + o) + oneMinusBeta2 * (gi * gi);
    store<f32>(m + o, mi);
    store<f32>(v + o, vi);
    const denom = Mathf.sqrt(vi) * invSqrtBc2 + eps;
    store<f32>(w + o, load<f32>(w + o) - (stepSize * mi) / denom);
  }
}

// out[r][·] = src[idx[r]][·] for r < count, rows of rowLen floats (cached layer outputs).
export function gatherRowsF32(src: usize, rowLen: i32, idx: usize, count: i32, out: usize): void {
  const bytes = <usize>rowLen * 4;
  for (let r = 0; r < count; r++) {
    const row = <usize>load<i32>(idx + (<usize>r << 2));
    memory.copy(out + <usize>r * bytes, src + row * bytes, bytes);
  }
}
