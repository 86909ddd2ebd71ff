// The browser benchmark page: wasm-lora (through the public Session API, in its engine worker with
// kernel threads when the page is cross-origin isolated) side by side with TensorFlow.js in the
// same page (tfjs-backend-wasm, threaded SIMD build when isolated; tfjs-backend-webgl) on the
// workload of bench/compare.ts: the reference MLP 784→1000→2000→10, dropout 0.3, raw MNIST
// pixels, batch 128, Adam; LoRA rank 1 on all layers. The result object goes to window.__bench,
// progress to the console (lines starting with "[bench]"). Driven by bench/browser/run.ts.
//
// Query: ?quick=1 (fewer repetitions), ?only=wasm-lora,tfjs-wasm,tfjs-webgl (a subset),
// ?tfjsThreads=default (tfjs-wasm with its own thread count: cores / 2; default here: every core).
import * as tf from '@tensorflow/tfjs-core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { REFERENCE_SETTINGS, runExperiment, worstClass } from '../../src/experiment.js';
import { parseImagesAndLabels, type LabeledImages } from '../../src/mnist.js';
import { Session } from '../../src/session.js';
import { initTfjs, TfjsMlp } from '../peers/tfjs-peer.js';
import { B, SIZES, stat, tfjsBatches, type BenchResult, type Stat, type Workload } from '../shared.js';

declare global {
  interface Window { __bench?: BenchResult }
}

const params = new URLSearchParams(location.search);
const quick = params.get('quick') === '1';
const only = params.get('only')?.split(',').filter(Boolean) ?? null;
const wanted = (what: string) => !only || only.includes(what);
const tfjsAllThreads = params.get('tfjsThreads') !== 'default';

const out: BenchResult = {
  ok: false, quick, userAgent: navigator.userAgent, crossOriginIsolated: self.crossOriginIsolated,
  hardwareConcurrency: navigator.hardwareConcurrency, results: {}, info: {}, failures: {}, seconds: {},
};
const logEl = document.getElementById('log')!;
function log(msg: string): void {
  console.log(`[bench] ${msg}`);
  logEl.textContent += msg + '\n';
}
const ms = (s: Stat) => `${s.median.toFixed(1)} ms (${s.min.toFixed(1)}–${s.max.toFixed(1)}, n ${s.n})`;

/** One untimed warm-up call (or `warmup`), then `reps` timed calls; per call / perCall. */
async function time(reps: number, f: () => unknown, opts: { perCall?: number; warmup?: () => unknown } = {}): Promise<Stat> {
  await (opts.warmup ?? f)();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await f();
    t.push((performance.now() - t0) / (opts.perCall ?? 1));
  }
  return stat(t);
}

function withTimeout<T>(p: Promise<T>, seconds: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no answer after ${seconds} s`)), seconds * 1000); });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

async function fetchBytes(name: string): Promise<Uint8Array> {
  const r = await fetch(`/__mnist/${name}`);
  if (!r.ok) throw new Error(`could not fetch /__mnist/${name}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

async function loadMnist(): Promise<{ train: LabeledImages; test: LabeledImages }> {
  const names = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];
  const [ti, tl, si, sl] = await Promise.all(names.map(fetchBytes));
  return {
    train: parseImagesAndLabels(ti, names[0], tl, names[1]),
    test: parseImagesAndLabels(si, names[2], sl, names[3]),
  };
}

/** The renderer behind WebGL2 here, from a throw-away context. */
function webglRenderer(): { renderer: string; vendor: string; software: boolean } | null {
  const gl = document.createElement('canvas').getContext('webgl2');
  if (!gl) return null;
  const ext = gl.getExtension('WEBGL_debug_renderer_info');
  const renderer = String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  const vendor = String(gl.getParameter(ext ? ext.UNMASKED_VENDOR_WEBGL : gl.VENDOR));
  gl.getExtension('WEBGL_lose_context')?.loseContext();
  return { renderer, vendor, software: /swiftshader|llvmpipe|softpipe|software|basic render/i.test(renderer) };
}

async function main(): Promise<void> {
  log(`${navigator.userAgent}; crossOriginIsolated ${self.crossOriginIsolated}; hardwareConcurrency ${navigator.hardwareConcurrency}; quick ${quick}`);
  const t0 = performance.now();
  const mnist = await loadMnist();
  log(`MNIST: ${mnist.train.count} train / ${mnist.test.count} test images (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  let initialW: Float32Array[] | null = null;

  // ---- wasm-lora, through the public Session API ------------------------------------------------
  const cores = navigator.hardwareConcurrency || 1;
  const threadCounts = [...new Set([cores, 1])];
  const seenThreads = new Set<number>();
  for (const threads of wanted('wasm-lora') ? threadCounts : []) {
    const tStart = performance.now();
    const session = await Session.start({ threads, cacheBytes: 128 << 20 }); // simd: 'auto' (relaxed where the browser has it)
    const info = session.info;
    if (seenThreads.has(info.threads)) { await session.close(); continue; } // not isolated: "all" is 1 thread too
    seenThreads.add(info.threads);
    const name = `wasm-lora ${info.simd === 'relaxed' ? 'relaxed' : 'simd'} ${info.threads}T`;
    log(`${name}: ${JSON.stringify(info)}`);
    out.info[name] = info;
    const r: Partial<Record<Workload, Stat | null>> = {};
    try {
      const train = await session.dataset({ images: mnist.train.images, labels: mnist.train.labels, rowLen: 784 });
      const test = await session.dataset({ images: mnist.test.images, labels: mnist.test.labels, rowLen: 784 });
      const m = await session.mlp({ layers: SIZES, dropout: 0.3, seed: 0 });
      initialW ??= (await m.weights()).W;
      const x = Float32Array.from(mnist.test.images.subarray(0, B * 784));
      r.forward = await time(quick ? 10 : 30, () => m.predict(x, B));
      log(`${name} forward: ${ms(r.forward)}`);
      r.full = await time(quick ? 3 : 7, () => m.train(train, { steps: 10, batchSize: B, lr: 1e-3 }), { perCall: 10 });
      log(`${name} full step: ${ms(r.full)}`);
      // Session.call reaches the engine directly: the first-layer cache off, then on (as in bench/compare.ts).
      await session.call((e) => e.setCacheBytes(0));
      r.evalCold = await time(quick ? 2 : 5, () => m.evaluate(test));
      log(`${name} evaluate 10k: ${ms(r.evalCold)}`);
      await session.call((e) => e.setCacheBytes(128 << 20));
      r.eval = await time(quick ? 2 : 5, () => m.evaluate(test));
      log(`${name} evaluate 10k, first layer cached: ${ms(r.eval)}`);
      const worst = worstClass((await m.evaluate(test)).mislabeled);
      await m.loraize({ r: 1, alpha: 0.5, init: 'reference' });
      r.lora = await time(quick ? 3 : 7, () => m.train(train, { steps: 10, batchSize: B, lr: 1e-5, classes: [worst] }), { perCall: 10 });
      log(`${name} LoRA step: ${ms(r.lora)}`);
    } finally {
      await session.close();
    }
    // The whole reference experiment (what `npm start` runs), in a fresh session with default settings.
    if (!quick || info.threads === Math.max(...threadCounts)) {
      const s2 = await Session.start({ threads });
      try {
        const t = performance.now();
        const rep = await runExperiment(s2, mnist, REFERENCE_SETTINGS);
        const msExp = performance.now() - t;
        r.experiment = { median: msExp, min: msExp, max: msExp, n: 1 };
        log(`${name} whole experiment: ${(msExp / 1000).toFixed(1)} s (accuracy ${(rep.accuracyBefore * 100).toFixed(2)} % → ${(rep.accuracyAfter * 100).toFixed(2)} %)`);
      } finally {
        await s2.close();
      }
    } else r.experiment = null;
    out.results[name] = r;
    out.seconds[name] = (performance.now() - tStart) / 1000;
  }

  // ---- TensorFlow.js in the same page -----------------------------------------------------------
  if (!initialW) {
    const s = await Session.start({ threads: 1 });
    initialW = (await (await s.mlp({ layers: SIZES, dropout: 0.3, seed: 0 })).weights()).W;
    await s.close();
  }
  const batches = tfjsBatches(mnist.train);
  const testX = Float32Array.from(mnist.test.images);
  for (const backend of ['wasm', 'webgl'] as const) {
    const name = `tfjs-${backend}`;
    if (!wanted(name)) continue;
    const tStart = performance.now();
    let m: TfjsMlp | null = null;
    try {
      // tfjs-backend-wasm loads its threaded SIMD build when the page is cross-origin isolated, and
      // sizes XNNPACK's pool as min(setThreadsCount, navigator.hardwareConcurrency / 2, 8): it
      // assumes two hyper-threads per core, so on this 2-core machine it would run 1 thread whatever
      // setThreadsCount asks. To give it every core, as wasm-lora gets, the page reports twice the
      // core count to tfjs while it initialises (?tfjsThreads=default: tfjs's own choice).
      const spoof = backend === 'wasm' && tfjsAllThreads;
      if (backend === 'wasm') setWasmPaths(new URL('/__tfjs-wasm/', location.href).href);
      if (spoof) Object.defineProperty(navigator, 'hardwareConcurrency', { value: 2 * cores, configurable: true });
      let tinfo;
      try {
        tinfo = await withTimeout(initTfjs(backend, backend === 'wasm' && tfjsAllThreads ? cores : undefined), 180, `tfjs ${backend} init`);
      } finally {
        if (spoof) Reflect.deleteProperty(navigator, 'hardwareConcurrency');
      }
      const info: Record<string, unknown> = { ...tinfo };
      if (backend === 'wasm') {
        info.crossOriginIsolated = self.crossOriginIsolated;
        info.multithreadSupport = Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'));
        info.threadsRequested = tfjsAllThreads ? cores : 'tfjs default';
        if (spoof) info.hardwareConcurrencySeenByTfjs = 2 * cores;
      } else {
        delete info.threads; // initTfjs says 1; WebGL work runs on the GPU (here: SwiftShader's CPU threads)
        info.webglVersion = tf.env().getNumber('WEBGL_VERSION');
        info.float32RenderTargets = tf.env().getBool('WEBGL_RENDER_FLOAT32_ENABLED');
        info.gl = webglRenderer();
      }
      out.info[name] = info;
      log(`${name}: ${JSON.stringify(info)}`);
      const slow = backend === 'webgl';
      m = new TfjsMlp(SIZES, initialW, { dropout: 0.3, lr: 1e-3 });
      const mm = m;
      const r: Partial<Record<Workload, Stat | null>> = {};
      let i = 0;
      r.forward = await time(quick || slow ? 3 : 10, () => mm.forward(batches[0].x, B));
      log(`${name} forward: ${ms(r.forward)}`);
      r.full = await time(quick ? 3 : slow ? 4 : 10, () => { const b = batches[i++ % 16]; return mm.trainStep(b.x, b.y, B); });
      log(`${name} full step: ${ms(r.full)}`);
      // Warm-up on one batch of 1000 (same shapes and kernels as the 10 batches of the real run).
      r.evalCold = await time(quick || slow ? 1 : 3, () => mm.evaluate(testX, mnist.test.labels, 10000, 1000),
        { warmup: () => mm.evaluate(testX, mnist.test.labels, 1000, 1000) });
      r.eval = r.evalCold; // tfjs has no first-layer cache
      log(`${name} evaluate 10k: ${ms(r.evalCold)}`);
      mm.loraize(1, 0.5, SIZES.slice(0, -1).map((n) => new Float32Array(n)), SIZES.slice(1).map((n) => Float32Array.from({ length: n }, () => 1)), 1e-5);
      r.lora = await time(quick ? 3 : slow ? 4 : 10, () => { const b = batches[i++ % 16]; return mm.loraStep(b.x, b.y, B); });
      log(`${name} LoRA step: ${ms(r.lora)}`);
      // The whole experiment: 468 full steps, 2 evaluations, 200 LoRA steps, projected from the medians.
      r.experiment = { median: 468 * r.full.median + 200 * r.lora.median + 2 * r.evalCold.median, min: NaN, max: NaN, n: 0 };
      out.results[name] = r;
    } catch (e) {
      out.failures[name] = e instanceof Error ? e.message : JSON.stringify(e);
      log(`${name} FAILED: ${out.failures[name]}`);
    } finally {
      m?.dispose();
    }
    out.seconds[name] = (performance.now() - tStart) / 1000;
  }
  out.ok = true;
}

main().catch((e: unknown) => {
  out.error = e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : JSON.stringify(e);
  log(`FAILED: ${out.error}`);
}).finally(() => {
  window.__bench = out;
  log('done');
});
