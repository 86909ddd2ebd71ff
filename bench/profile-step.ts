// Where a training step spends its time: wraps the kernel set so every call is timed, trains the
// reference model for one epoch (468 steps, so fc1's dead units appear as in npm start), then
// times 50 full steps and 50 LoRA steps (class 8) and prints ms per step by kernel call.
//
//   npx tsx bench/profile-step.ts [threads]
import v8 from 'node:v8';
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
import { Engine } from '../src/engine/engine.js';
import { loadMnist } from '../src/mnist-node.js';
import { spawnKernelThread } from '../workers/node-threads.js';
const threads = Number(process.argv[2] ?? 1);
const e = new Engine(undefined, { cores: threads, spawnThread: spawnKernelThread });
await e.init({ threads });
const k: any = e.kernels;
const times: Record<string, number> = {};
for (const op of ['gemm', 'reluDropoutForward', 'reluDropoutBackward', 'gatherRows', 'logSoftmaxNll', 'adam', 'write', 'read']) {
  const f = k[op].bind(k);
  k[op] = (...a: any[]) => { const t = performance.now(); const r = f(...a); const key = op === 'gemm' ? `gemm ${a[0] ? 'T' : 'N'}${a[1] ? 'T' : 'N'} ${a[2]}x${a[3]}x${a[4]}` : op; times[key] = (times[key] ?? 0) + performance.now() - t; return r; };
}
const { train } = await loadMnist();
const d = e.addDataset({ images: train.images, labels: train.labels, rowLen: 784 });
const m = e.createMlp({ seed: 1 });
await e.train(m, d.id, { steps: 468 });
for (const key in times) delete times[key];
let r = await e.train(m, d.id, { steps: 50 });
const show = (label: string, steps: number, total: number) => {
  console.log(`${label}: ${(1000 * total / steps).toFixed(1)} ms/step`);
  const sum = Object.values(times).reduce((a, b) => a + b, 0);
  for (const [key, v] of Object.entries(times).sort((a, b) => b[1] - a[1])) console.log(`  ${key.padEnd(28)} ${(v / steps).toFixed(2)} ms`);
  console.log(`  (other: ${((1000 * total - sum) / steps).toFixed(2)} ms)`);
  for (const key in times) delete times[key];
};
show('full step', 50, r.seconds);
e.loraize(m, { r: 1, init: 'reference' });
await e.train(m, d.id, { steps: 5, classes: [8] });
for (const key in times) delete times[key];
r = await e.train(m, d.id, { steps: 50, classes: [8] });
show('LoRA step', 50, r.seconds);
e.close();
