// One source, two builds: `ASC_FEATURE_RELAXED_SIMD` is a compile-time constant, so the relaxed
// build gets a fused multiply-add (f32x4.relaxed_madd: one rounding, may differ from mul+add in
// the last bit) and the plain SIMD build a multiply then an add (two roundings, like the
// reference kernels' f32 stores).
// @ts-ignore: decorator
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

// The scalar twin, for the skinny loops' tails: fused in the relaxed build like its vector lanes.
// @ts-ignore: decorator
@inline export function smadd(a: f32, b: f32, c: f32): f32 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.extract_lane(f32x4.relaxed_madd(f32x4.splat(a), f32x4.splat(b), f32x4.splat(c)), 0);
  return a * b + c;
}
