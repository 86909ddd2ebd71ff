// `npm run bench`: wasm-lora side by side with TensorFlow.js in ONE process, on the same workload:
// the reference MLP (784→1000→2000→10, dropout 0.3, raw MNIST pixels, batch 128, Adam), LoRA
// rank 1 on all layers. Prints median/min/max ms, nominal GFLOP/s and the ratios theirs/ours, and
// writes JSON. A script, never a test: figures depend on the machine and on what else runs.
//
//   npm run bench                       all workloads; tfjs's whole experiment projected from its medians
//   npm run bench -- --quick            fewer repetitions, no whole-experiment runs
//   npm run bench -- --full-tfjs        also RUN tfjs-wasm's whole experiment (≈ 7 minutes here)
//   npm run bench -- --json FILE        where to write the JSON (default tmp/bench.json)
//   npm run bench -- --only wasm-lora   one side only (or --only tfjs)
import v8 from 'node:v8';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { dirname } from 'node:path';
import { Engine } from '../src/engine/engine.js';
import { supportsRelaxedSimd } from '../src/engine/wasm-loader.js';
import { REFERENCE_SETTINGS, runExperiment, worstClass } from '../src/experiment.js';
import { loadMnist } from '../src/mnist-node.js';
import { Session } from '../src/session.js';
import { spawnKernelThread } from '../workers/node-threads.js';
import { initTfjs, TfjsMlp, type TfjsBackend } from './peers/tfjs-peer.js';
import { B, FLOP, ROWS, SIZES, stat, tfjsBatches, type Stat } from './shared.js';

v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const fullTfjs = argv.includes('--full-tfjs');
const jsonPath = argv.includes('--json') ? argv[argv.indexOf('--json') + 1] : 'tmp/bench.json';
// --only wasm-lora | tfjs: run one side only (the other's rows are left out).
const only = argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : null;

async function time(reps: number, f: () => unknown | Promise<unknown>, perCall = 1): Promise<Stat> {
  for (let i = 0; i < 3; i++) await f(); // warm-up: JIT tiers, page faults, sleeping threads
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await f();
    ms.push((performance.now() - t) / perCall);
  }
  return stat(ms);
}

const mnist = await loadMnist();
const results: Record<string, Record<string, Stat | null>> = {};
const cores = availableParallelism();
console.log(`wasm-lora vs TensorFlow.js — ${cores} × ${cpus()[0]?.model.trim()}, Node ${process.version}, load average at start ${loadavg()[0].toFixed(2)}`);

// ---- wasm-lora ----------------------------------------------------------------------------------
const flavours = supportsRelaxedSimd() ? (['simd', 'relaxed'] as const) : (['simd'] as const);
const threadCounts = cores > 1 ? [1, cores] : [1];
let initialW: Float32Array[] = [];
for (const simd of only === 'tfjs' ? [] : flavours) {
  for (const threads of threadCounts) {
    const name = `wasm-lora ${simd === 'relaxed' ? 'relaxed' : 'simd'} ${threads}T`;
    const e = new Engine(undefined, { cores: threads, spawnThread: spawnKernelThread });
    await e.init({ simd, threads });
    const train = e.addDataset({ images: mnist.train.images, labels: mnist.train.labels, rowLen: 784 });
    const test = e.addDataset({ images: mnist.test.images, labels: mnist.test.labels, rowLen: 784 });
    const m = e.createMlp({ seed: 0 });
    if (!initialW.length) initialW = e.readWeights(m).W;
    const x = Float32Array.from(mnist.test.images.subarray(0, B * 784));
    const r: Record<string, Stat | null> = {};
    r.forward = await time(quick ? 10 : 50, () => e.predict(m, x, B));
    r.full = await time(quick ? 3 : 7, () => e.train(m, train.id, { steps: 10 }), 10);
    e.setCacheBytes(0);
    r.evalCold = await time(quick ? 2 : 5, () => e.evaluate(m, test.id));
    e.setCacheBytes(128 << 20);
    r.eval = await time(quick ? 2 : 5, () => e.evaluate(m, test.id)); // after loraize too: the frozen first layer is cached
    const worst = worstClass(e.evaluate(m, test.id).mislabeled);
    e.loraize(m, { r: 1, alpha: 0.5, init: 'reference' });
    r.lora = await time(quick ? 3 : 7, () => e.train(m, train.id, { steps: 10, lr: 1e-5, classes: [worst] }), 10);
    e.close();
    if (!quick) {
      const session = await Session.start({ simd, threads });
      const t0 = performance.now();
      await runExperiment(session, mnist, REFERENCE_SETTINGS);
      const ms = performance.now() - t0;
      r.experiment = { median: ms, min: ms, max: ms, n: 1 };
      await session.close();
    } else r.experiment = null;
    results[name] = r;
    console.log(`  ${name}: done`);
  }
}

// ---- TensorFlow.js ------------------------------------------------------------------------------
const batches = tfjsBatches(mnist.train);
const testX = Float32Array.from(mnist.test.images);
if (!initialW.length) {
  const e = new Engine();
  await e.init({ threads: 1 });
  initialW = e.readWeights(e.createMlp({ seed: 0 })).W;
}
for (const backend of (only === 'wasm-lora' ? [] : ['wasm', 'cpu']) as TfjsBackend[]) {
  const info = await initTfjs(backend);
  const name = `tfjs-${backend}`;
  const slow = backend === 'cpu';
  const m = new TfjsMlp(SIZES, initialW, { dropout: 0.3, lr: 1e-3 });
  const r: Record<string, Stat | null> = {};
  let i = 0;
  r.forward = await time(quick || slow ? 3 : 10, () => m.forward(batches[0].x, B));
  r.full = await time(quick || slow ? 3 : 10, () => { const b = batches[i++ % 16]; return m.trainStep(b.x, b.y, B); });
  r.evalCold = await time(slow ? 1 : quick ? 1 : 3, () => m.evaluate(testX, mnist.test.labels, 10000, 1000));
  r.eval = r.evalCold;
  m.loraize(1, 0.5, SIZES.slice(0, -1).map((n) => new Float32Array(n)), SIZES.slice(1).map((n) => Float32Array.from({ length: n }, () => 1)), 1e-5);
  r.lora = await time(quick || slow ? 3 : 10, () => { const b = batches[i++ % 16]; return m.loraStep(b.x, b.y, B); });
  m.dispose();
  // The whole experiment: 468 full steps, 2 evaluations, 200 LoRA steps.
  const projected = 468 * r.full.median + 200 * r.lora.median + 2 * r.eval.median;
  r.experiment = { median: projected, min: NaN, max: NaN, n: 0 };
  if (fullTfjs && backend === 'wasm') {
    const m2 = new TfjsMlp(SIZES, initialW, { dropout: 0.3, lr: 1e-3 });
    const t0 = performance.now();
    for (let s = 0; s < 468; s++) { const b = batches[s % 16]; m2.trainStep(b.x, b.y, B); }
    m2.evaluate(testX, mnist.test.labels, 10000, 1000);
    m2.loraize(1, 0.5, SIZES.slice(0, -1).map((n) => new Float32Array(n)), SIZES.slice(1).map((n) => Float32Array.from({ length: n }, () => 1)), 1e-5);
    for (let s = 0; s < 200; s++) { const b = batches[s % 16]; m2.loraStep(b.x, b.y, B); }
    m2.evaluate(testX, mnist.test.labels, 10000, 1000);
    const ms = performance.now() - t0;
    r.experiment = { median: ms, min: ms, max: ms, n: 1 };
    m2.dispose();
  }
  results[name] = r;
  console.log(`  ${name}: done (${JSON.stringify(info)})`);
}

// ---- report -------------------------------------------------------------------------------------
const names = Object.keys(results);
const rows = ROWS;
const fmt = (s: Stat | null | undefined, flop: number | null) => {
  if (!s) return '—';
  const t = s.median >= 10000 ? `${(s.median / 1000).toFixed(1)} s` : `${s.median.toFixed(s.median < 10 ? 2 : 1)} ms`;
  const range = s.n > 1 ? ` (${s.min.toFixed(1)}–${s.max.toFixed(1)})` : s.n === 0 ? ' (projected)' : '';
  return `${t}${range}${flop ? `, ${(flop / s.median / 1e6).toFixed(1)} GFLOP/s` : ''}`;
};
console.log('');
for (const [key, label, flop] of rows) {
  console.log(`${label}`);
  for (const n of names) console.log(`  ${n.padEnd(26)} ${fmt(results[n][key], flop)}`);
  const ours = names.filter((n) => n.startsWith('wasm-lora') && results[n][key]).sort((a, b) => results[a][key]!.median - results[b][key]!.median)[0];
  if (ours) {
    for (const peer of ['tfjs-wasm', 'tfjs-cpu']) {
      const p = results[peer]?.[key];
      if (p) console.log(`  → ${peer} / ${ours}: ${(p.median / results[ours][key]!.median).toFixed(1)}× ${p.n === 0 ? '(tfjs projected)' : ''}`);
    }
  }
}
mkdirSync(dirname(jsonPath), { recursive: true });
writeFileSync(jsonPath, JSON.stringify({ date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, cores, flop: FLOP, results }, null, 2));
console.log(`\nJSON: ${jsonPath}`);
process.exit(0);
