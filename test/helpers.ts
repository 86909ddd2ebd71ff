// Shared test helpers: the kernel sets under test, seeded random data, and one compare helper
// that prints the max difference (so every comparison is also a small report).
import type { Kernels } from '../src/engine/kernels.js';
import { ReferenceKernels } from '../src/engine/reference-kernels.js';
import { WasmKernels } from '../src/engine/wasm-kernels.js';
import { compileKernels, supportsRelaxedSimd } from '../src/engine/wasm-loader.js';
import { uniform } from '../src/engine/rng.js';

export interface KernelSetCase {
  name: string;
  make(): Promise<Kernels>;
}

/** Every fast kernel set this runtime can run; each is compared with the reference set. */
export function fastKernelSets(): KernelSetCase[] {
  const sets: KernelSetCase[] = [
    { name: 'wasm-simd', make: async () => WasmKernels.create(await compileKernels('simd'), 'simd') },
  ];
  if (supportsRelaxedSimd()) {
    sets.push({ name: 'wasm-relaxed-simd', make: async () => WasmKernels.create(await compileKernels('relaxed'), 'relaxed') });
  }
  return sets;
}

export const reference32 = () => new ReferenceKernels('f32');
export const reference64 = () => new ReferenceKernels('f64');

/** Deterministic uniform(lo, hi) floats from the project's own PRNG. */
export function randomFloats(n: number, key: number, lo = -1, hi = 1): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => lo + (hi - lo) * uniform(key, i));
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Logs "label: max |diff| = …" and returns the max difference. */
export function report(label: string, a: ArrayLike<number>, b: ArrayLike<number>, extra = ''): number {
  const d = maxAbsDiff(a, b);
  console.log(`${label}: max |diff| = ${d.toExponential(3)}${extra ? ` ${extra}` : ''}`);
  return d;
}
