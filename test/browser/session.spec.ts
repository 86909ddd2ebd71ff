// The public API in a real browser page (headless Chromium, cross-origin isolated by the test
// server's COOP/COEP headers): Session.start() spawns the engine module Worker through Comlink, the
// wasm builds are fetched and compiled with compileStreaming, kernel threads are nested module
// workers on shared memory, and WebGL runs inside the engine worker on an OffscreenCanvas.
//
// Tolerances:
//  - wasm threaded vs one thread: bit-identical (every element of a product is computed by the
//    same instruction sequence whatever the split; threads.ts);
//  - WebGL vs wasm over a short training run on real MNIST images: the first step's loss within
//    1e-5 relative (same batch, same init, same dropout masks: only f32 rounding differs); every
//    later loss within 1e-4 relative — rounding differences grow through Adam's updates (Adam
//    divides by √v, so tiny gradients' sign flips move weights by a full lr), which over 20 + 10
//    steps was measured at 2e-7 on SwiftShader; 1e-4 leaves room for GPUs that contract to FMA or
//    have looser exp/log (the measured worst is printed); accuracy within 1 point.
import { afterAll, describe, expect, it } from 'vitest';
import { AbortError, OptionError, Session } from '../../src/index.js';
import type { EngineOptions } from '../../src/types.js';
import { mnistSlice } from './data.js';

const LAYERS = [784, 64, 32, 10];
const sessions: Session[] = [];
afterAll(async () => { await Promise.all(sessions.map((s) => s.close())); });

async function start(opts: EngineOptions): Promise<Session> {
  const s = await Session.start(opts);
  sessions.push(s);
  return s;
}

/** Pre-train 20 steps, evaluate, LoRA fine-tune 10 steps on one class, evaluate. */
async function shortRun(session: Session) {
  const train = await session.dataset(await mnistSlice(2000));
  const test = await session.dataset(await mnistSlice(1000, 5000));
  const model = await session.mlp({ layers: LAYERS, dropout: 0.3, seed: 11 });
  const pre = await model.train(train, { steps: 20, batchSize: 64, lr: 1e-3 });
  const before = await model.evaluate(test);
  const hash = await model.frozenHash();
  await model.loraize({ r: 2, alpha: 1, init: 'reference' });
  const ft = await model.train(train, { steps: 10, batchSize: 64, lr: 1e-4, classes: [8] });
  const after = await model.evaluate(test);
  return { pre, ft, before, after, hashSame: hash === (await model.frozenHash()), weights: await model.weights() };
}

describe('the library in a browser page', () => {
  it('is cross-origin isolated, so threads are possible', () => {
    expect(globalThis.crossOriginIsolated).toBe(true);
    expect(typeof SharedArrayBuffer).toBe('function');
  });

  it('runs the wasm engine threaded in a Worker, bit-identical to one thread', async () => {
    const threaded = await start({ backend: 'wasm', threads: 2 });
    const single = await start({ backend: 'wasm', threads: 1 });
    console.log(`threaded: ${JSON.stringify(threaded.info)}`);
    console.log(`single:   ${JSON.stringify(single.info)}`);
    expect(threaded.info).toMatchObject({ backend: 'wasm', runtime: 'browser', threads: 2 });
    expect(threaded.info.threads).toBeGreaterThan(1);
    expect(threaded.info.simd).toBe('relaxed'); // Chromium has relaxed SIMD without a flag
    expect(single.info.threads).toBe(1);
    const [a, b] = await Promise.all([shortRun(threaded), shortRun(single)]);
    expect(Array.from(a.pre.losses)).toEqual(Array.from(b.pre.losses));
    expect(Array.from(a.ft.losses)).toEqual(Array.from(b.ft.losses));
    a.weights.W.forEach((w, l) => expect(w).toEqual(b.weights.W[l]));
    a.weights.B.forEach((w, l) => expect(w).toEqual(b.weights.B[l]));
    expect(a.after.predictions).toEqual(b.after.predictions);
    expect(a.hashSame).toBe(true);
    console.log(`wasm: pre-train ${a.pre.steps} steps, accuracy ${(a.before.accuracy * 100).toFixed(1)} % → after LoRA ${(a.after.accuracy * 100).toFixed(1)} %`);
  });

  it('trains on WebGL (in the engine worker, OffscreenCanvas) like on wasm', async () => {
    const gl = await start({ backend: 'webgl' });
    const wasm = await start({ backend: 'wasm', threads: 1 });
    console.log(`webgl: ${JSON.stringify(gl.info)}`);
    expect(gl.info).toMatchObject({ backend: 'webgl', kernels: 'webgl-tfjs', simd: null, threads: 1, runtime: 'browser' });
    expect(gl.info.gl?.offscreen).toBe(true);
    expect(gl.info.gl?.renderer).toBeTruthy();
    const g = await shortRun(gl);
    const w = await shortRun(wasm);
    const rel = (x: number, y: number) => Math.abs(x - y) / Math.max(Math.abs(y), 1e-30);
    expect(rel(g.pre.losses[0], w.pre.losses[0])).toBeLessThan(1e-5);
    let worst = 0;
    for (const [gl2, wa] of [[g.pre.losses, w.pre.losses], [g.ft.losses, w.ft.losses]] as const) {
      expect(gl2.length).toBe(wa.length);
      for (let i = 0; i < wa.length; i++) worst = Math.max(worst, rel(gl2[i], wa[i]));
    }
    console.log(`webgl vs wasm: losses ${Array.from(g.pre.losses.slice(0, 3), (v) => v.toFixed(5))}… vs ${Array.from(w.pre.losses.slice(0, 3), (v) => v.toFixed(5))}…; worst relative loss difference over ${g.pre.steps + g.ft.steps} steps ${worst.toExponential(2)}`);
    console.log(`webgl vs wasm: accuracy ${(g.before.accuracy * 100).toFixed(1)} / ${(w.before.accuracy * 100).toFixed(1)} % before LoRA, ${(g.after.accuracy * 100).toFixed(1)} / ${(w.after.accuracy * 100).toFixed(1)} % after`);
    console.log(`speed (784-64-32-10, batch 64, indicative): webgl ${(g.pre.steps / g.pre.seconds).toFixed(1)} steps/s, wasm 1 thread ${(w.pre.steps / w.pre.seconds).toFixed(1)} steps/s`);
    expect(worst).toBeLessThan(1e-4);
    expect(Math.abs(g.before.accuracy - w.before.accuracy)).toBeLessThanOrEqual(0.01);
    expect(Math.abs(g.after.accuracy - w.after.accuracy)).toBeLessThanOrEqual(0.01);
    expect(g.hashSame).toBe(true);
  });

  it('runs WebGL on the page\'s own thread (the fallback where workers have no OffscreenCanvas) like in the worker', async () => {
    const main = await start({ backend: 'webgl', inWorker: false });
    expect(main.info).toMatchObject({ backend: 'webgl', threads: 1, runtime: 'browser' });
    expect(main.info.gl?.offscreen).toBe(false); // a page canvas, not an OffscreenCanvas
    const wasm = await start({ backend: 'wasm', threads: 1 });
    const [g, w] = [await shortRun(main), await shortRun(wasm)];
    let worst = 0;
    for (const [a, b] of [[g.pre.losses, w.pre.losses], [g.ft.losses, w.ft.losses]] as const) {
      expect(a.length).toBe(b.length);
      for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.abs(b[i]));
    }
    console.log(`webgl on the main thread vs wasm: worst relative loss difference ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-4);
    expect(g.hashSame).toBe(true);
  });

  it("'auto' picks wasm on a software renderer without loading tfjs, and says why", async () => {
    const s = await start({ backend: 'auto', batchHint: 4096 });
    console.log(`auto: ${JSON.stringify(s.info)}`);
    if (s.info.gl?.software !== false) {
      expect(s.info.backend).toBe('wasm');
      expect(s.info.note).toMatch(/^auto: wasm/);
    } else {
      expect(s.info.backend).toBe('webgl'); // a hardware GPU and a large batch
    }
    const small = await start({ backend: 'auto' });
    expect(small.info.backend).toBe('wasm'); // batchHint defaults to 128
  });

  it('abort stops training between steps; the model stays usable', async () => {
    const s = await start({ backend: 'wasm' });
    const train = await s.dataset(await mnistSlice(500));
    const model = await s.mlp({ layers: LAYERS, seed: 1 });
    const ctl = new AbortController();
    const err = await model.train(train, {
      steps: 1_000_000, batchSize: 32, progressEvery: 5,
      onProgress: (p) => { if (p.step >= 10) ctl.abort(); },
      signal: ctl.signal,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    const done = (err as AbortError).stepsCompleted;
    expect(done).toBeGreaterThanOrEqual(10);
    expect(done).toBeLessThan(1_000_000);
    expect((await model.info()).step).toBe(done);
    const more = await model.train(train, { steps: 3, batchSize: 32 });
    expect(more.steps).toBe(3);
    await expect(model.train(train, { steps: 5, signal: AbortSignal.abort() })).rejects.toThrow(AbortError);
  });

  it('typed errors cross the worker boundary', async () => {
    await expect(Session.start({ backend: 'cuda' as never })).rejects.toThrow(OptionError);
    const s = await start({ backend: 'wasm', threads: 1 });
    await expect(s.mlp({ layers: [784, 0, 10] })).rejects.toThrow(/layers\[1\]/);
  });
});
