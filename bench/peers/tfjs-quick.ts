// Quick timing of the TensorFlow.js peer on the reference model (784→1000→2000→10, dropout 0.3,
// batch 128, raw MNIST pixels): median ms per full Adam step and per LoRA step (r 1, α 0.5,
// reference init: A zero, B standard normal; lr 1e-5), for each tfjs backend. A script, not a
// test: the numbers depend on the machine and on what else runs.
//
//   npx tsx bench/peers/tfjs-quick.ts [--backend wasm|cpu] [--steps 10] [--warmup 2]
import { cpus, loadavg } from 'node:os';
import { loadMnist } from '../../src/mnist-node.js';
import { normal, streamKey, Stream, uniform } from '../../src/engine/rng.js';
import { initTfjs, TfjsMlp, type TfjsBackend } from './tfjs-peer.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const backends = (process.argv.includes('--backend') ? [arg('backend', 'wasm')] : ['wasm', 'cpu']) as TfjsBackend[];
const STEPS = Number(arg('steps', '10')), WARMUP = Number(arg('warmup', '2'));
const SIZES = [784, 1000, 2000, 10], BATCH = 128, SEED = 0;

const mnist = await loadMnist();
const rows = (STEPS + WARMUP) * BATCH;
const x = Float32Array.from(mnist.train.images.subarray(0, rows * 784)); // raw 0..255
const y = Int32Array.from(mnist.train.labels.subarray(0, rows));
const batch = (i: number) => [x.subarray(i * BATCH * 784, (i + 1) * BATCH * 784), y.subarray(i * BATCH, (i + 1) * BATCH)] as const;

// The engine's init: uniform(−1, 1)/√(in·out) from the init stream of each layer.
const W = SIZES.slice(0, -1).map((nIn, l) => {
  const nOut = SIZES[l + 1], key = streamKey(SEED, Stream.init, 0, l), s = 1 / Math.sqrt(nIn * nOut);
  return Float32Array.from({ length: nIn * nOut }, (_, i) => (2 * uniform(key, i) - 1) * s);
});
const A = SIZES.slice(0, -1).map((nIn) => new Float32Array(nIn));
const B = SIZES.slice(1).map((nOut, l) => Float32Array.from({ length: nOut }, (_, i) => normal(1000 + l, i)));

const median = (v: number[]) => { const s = [...v].sort((a, b) => a - b); return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };

function time(step: (i: number) => number): { ms: number[]; loss: number } {
  const ms: number[] = [];
  let loss = NaN;
  for (let i = 0; i < WARMUP + STEPS; i++) {
    const t = performance.now();
    loss = step(i);
    if (i >= WARMUP) ms.push(performance.now() - t);
  }
  return { ms, loss };
}

console.log(`tfjs peer quick timing: ${SIZES.join('→')}, batch ${BATCH}, ${WARMUP} warm-up + ${STEPS} timed steps; ` +
  `Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model.trim()}, load average ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
for (const backend of backends) {
  const info = await initTfjs(backend);
  const m = new TfjsMlp(SIZES, W, { dropout: 0.3, lr: 1e-3 });
  const full = time((i) => m.trainStep(...batch(i), BATCH));
  m.loraize(1, 0.5, A, B, 1e-5);
  const lora = time((i) => m.loraStep(...batch(i), BATCH));
  const tensors = m.numTensors();
  m.dispose();
  const fmt = (r: { ms: number[]; loss: number }) =>
    `median ${median(r.ms).toFixed(1)} ms (min ${Math.min(...r.ms).toFixed(1)}, max ${Math.max(...r.ms).toFixed(1)}; last loss ${r.loss.toFixed(3)})`;
  console.log(`tfjs-${backend} ${JSON.stringify(info)}`);
  console.log(`  full step: ${fmt(full)}`);
  console.log(`  LoRA step: ${fmt(lora)}`);
  console.log(`  tensors alive at the end: ${tensors}`);
}
