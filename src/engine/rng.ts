// The one PRNG of wasm-lora: counter-based, stateless, identical in TS and in AssemblyScript
// (assembly/rng.ts). Everything random — weight init, LoRA init, dropout masks, batch sampling,
// validation splits — is element i of a stream whose 32-bit key comes from (seed, purpose, step,
// sub-index):
//
//   hash32(x)   = "lowbias32" (Chris Wellons): x ^= x>>>16; x *= 0x7feb352d; x ^= x>>>15;
//                 x *= 0x846ca68b; x ^= x>>>16
//   bits(key,i) = hash32(key + hash32(i))                       (32-bit wrap-around)
//   key         = fold of hash32 over [seed, purpose, step, sub]
//
// The state of a run is therefore just (seed, step counter): checkpoints store two integers, a
// resumed run draws exactly what an uninterrupted one would, and a threaded kernel can draw any
// element in any order. Node and browsers produce the same streams.

export function hash32(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

export function bits(key: number, i: number): number {
  return hash32((key + hash32(i >>> 0)) >>> 0);
}

/** Uniform in [0, 1) with 24 random bits (exactly representable in f32). */
export function uniform(key: number, i: number): number {
  return (bits(key, i) >>> 8) / 16777216;
}

/** Purposes of the streams (part of the key, so streams never collide). */
export const Stream = {
  init: 1,
  dropout: 2,
  batch: 3,
  loraInit: 4,
  split: 5,
} as const;

export function streamKey(seed: number, purpose: number, step = 0, sub = 0): number {
  let h = hash32((seed >>> 0) ^ 0x9e3779b9);
  h = hash32((h + purpose) >>> 0);
  h = hash32((h + (step >>> 0)) >>> 0);
  h = hash32((h + Math.floor(step / 4294967296)) >>> 0);
  return hash32((h + (sub >>> 0)) >>> 0);
}

/** Dropout threshold on the 24-bit draw: a unit is dropped when (bits >>> 8) < threshold. */
export function dropoutThreshold(p: number): number {
  return Math.round(p * 16777216);
}

/** Uniform integer in [0, n) for element i of a stream (n ≤ 2^32; bias < n/2^32). */
export function uniformInt(key: number, i: number, n: number): number {
  return Math.floor((bits(key, i) / 4294967296) * n);
}

/** Standard normal (Box–Muller on draws 2i and 2i+1 of the stream). */
export function normal(key: number, i: number): number {
  const u1 = 1 - uniform(key, 2 * i); // (0, 1]
  const u2 = uniform(key, 2 * i + 1);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}
