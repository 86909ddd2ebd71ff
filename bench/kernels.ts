// Kernel micro-benchmark: GFLOP/s of the wasm gemm (plain and relaxed SIMD builds, one thread) on
// the products one training step of the reference model does, side by side with the reference
// kernel set (plain TypeScript) in the same process. A script, never a test: numbers depend on
// the machine and on what else runs.
//
//   npm run bench:kernels [-- --json FILE] [-- --quick]
import v8 from 'node:v8';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import type { Kernels } from '../src/engine/kernels.js';
import { ReferenceKernels } from '../src/engine/reference-kernels.js';
import { WasmKernels } from '../src/engine/wasm-kernels.js';
import { compileKernels, supportsRelaxedSimd } from '../src/engine/wasm-loader.js';

v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
const quick = process.argv.includes('--quick');
const jsonAt = process.argv.indexOf('--json');

interface Case { name: string; tA: boolean; tB: boolean; M: number; N: number; K: number }
// One reference training step, batch 128 (forward x·W, input gradient g·Wᵀ, weight gradient xᵀ·g).
const CASES: Case[] = [
  { name: 'x·W    fc2 (128×1000)·(1000×2000)', tA: false, tB: false, M: 128, N: 2000, K: 1000 },
  { name: 'x·W    fc1 (128×784)·(784×1000)', tA: false, tB: false, M: 128, N: 1000, K: 784 },
  { name: 'g·Wᵀ   fc2 (128×2000)·(2000×1000)', tA: false, tB: true, M: 128, N: 1000, K: 2000 },
  { name: 'xᵀ·g   fc2 (1000×128)·(128×2000)', tA: true, tB: false, M: 1000, N: 2000, K: 128 },
  { name: 'xᵀ·g   fc1 (784×128)·(128×1000)', tA: true, tB: false, M: 784, N: 1000, K: 128 },
  { name: 'eval   fc2 (1000×1000)·(1000×2000)', tA: false, tB: false, M: 1000, N: 2000, K: 1000 },
];

function time(k: Kernels, c: Case, reps: number) {
  const fill = (n: number) => { const b = k.alloc('f32', n); k.write(b, Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5)); return b; };
  const A = fill(c.M * c.K), B = fill(c.K * c.N), C = k.alloc('f32', c.M * c.N);
  k.gemm(c.tA, c.tB, c.M, c.N, c.K, 1, A, B, 0, C); // warm-up (JIT tier-up, page faults)
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    k.gemm(c.tA, c.tB, c.M, c.N, c.K, 1, A, B, 0, C);
    ms.push(performance.now() - t);
  }
  for (const b of [A, B, C]) k.free(b);
  ms.sort((a, b) => a - b);
  const median = ms[Math.floor(ms.length / 2)];
  return { median, min: ms[0], max: ms[ms.length - 1], gflops: (2 * c.M * c.N * c.K) / median / 1e6 };
}

const sets: { name: string; k: Kernels; reps: number }[] = [
  { name: 'wasm-simd', k: await WasmKernels.create(await compileKernels('simd'), 'simd'), reps: quick ? 5 : 21 },
];
if (supportsRelaxedSimd()) sets.push({ name: 'wasm-relaxed-simd', k: await WasmKernels.create(await compileKernels('relaxed'), 'relaxed'), reps: quick ? 5 : 21 });
sets.push({ name: 'reference (plain TS)', k: new ReferenceKernels('f32'), reps: quick ? 1 : 3 });

console.log(`gemm, one thread — ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}`);
console.log(`${'product'.padEnd(38)}${sets.map((s) => s.name.padStart(22)).join('')}   ratio relaxed/reference`);
const results: Record<string, Record<string, ReturnType<typeof time>>> = {};
for (const c of CASES) {
  const row: Record<string, ReturnType<typeof time>> = {};
  for (const s of sets) {
    if (s.name.startsWith('reference') && c.M * c.N * c.K > 3e8 && quick) continue;
    row[s.name] = time(s.k, c, s.name.startsWith('reference') && c.M * c.N * c.K > 3e8 ? 1 : s.reps);
  }
  results[c.name] = row;
  const fast = row['wasm-relaxed-simd'] ?? row['wasm-simd'];
  const ref = row['reference (plain TS)'];
  console.log(`${c.name.padEnd(38)}${sets.map((s) => (row[s.name] ? `${row[s.name].gflops.toFixed(1)} GFLOP/s`.padStart(22) : '—'.padStart(22))).join('')}   ${ref ? `${(fast.gflops / ref.gflops).toFixed(0)}×` : ''}`);
}
console.log('(median of the runs; min/max in the JSON)');
if (jsonAt > 0) writeFileSync(process.argv[jsonAt + 1], JSON.stringify({ node: process.version, cpu: cpus()[0]?.model, results }, null, 2));
