// The counter-based generator shared by every kernel set (src/engine/rng.ts is the TS twin):
//   bits(key, i) = hash32(key + hash32(i))      hash32 = "lowbias32" (C. Wellons)
// A stream is a 32-bit key derived in TS from (seed, purpose, step, layer); element i of the
// stream is bits(key, i). Being stateless, any thread can draw any element and the result does
// not depend on how the work is split.

// @ts-ignore: decorator
@inline export function hash32(x: u32): u32 {
  x ^= x >>> 16;
  x *= 0x7feb352d;
  x ^= x >>> 15;
  x *= 0x846ca68b;
  x ^= x >>> 16;
  return x;
}

// Four lanes of hash32 at once.
// @ts-ignore: decorator
@inline export function hash32x4(x: v128): v128 {
  x = v128.xor(x, i32x4.shr_u(x, 16));
  x = i32x4.mul(x, i32x4.splat(0x7feb352d));
  x = v128.xor(x, i32x4.shr_u(x, 15));
  x = i32x4.mul(x, i32x4.splat(0x846ca68b));
  x = v128.xor(x, i32x4.shr_u(x, 16));
  return x;
}
