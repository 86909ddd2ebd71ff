// Files: atomic writes, checkpoints (exact resume through a real file and a fresh engine worker,
// several adapters, merge), base models in PyTorch's layout, hostile checkpoint and model files,
// property-based round trips, the safetensors reader's memory bound, and the CLI's --save,
// --resume (after a real SIGINT), --load, --import-adapter, --export-peft with bad files.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCli } from '../src/cli.js';
import { OptionError, ShapeError } from '../src/errors.js';
import {
  CheckpointError, decodeBaseModel, decodeCheckpoint, decodeModelFile, encodeBaseModel, encodeCheckpoint,
  type CheckpointErrorCode,
} from '../src/io/checkpoint.js';
import { FileError, loadModel, readFileChecked, saveBaseModel, saveCheckpoint, writeFileAtomic } from '../src/io/files-node.js';
import { parseSafetensors, SafetensorsError, serializeSafetensors, type TensorInput } from '../src/io/safetensors.js';
import { loadMnist } from '../src/mnist-node.js';
import type { Mlp } from '../src/mlp.js';
import { moduleNames } from '../src/options.js';
import { Session } from '../src/session.js';
import type { ModelStateExport } from '../src/types.js';

const root = join(import.meta.dirname, '..');
const mnist = await loadMnist();
const N = 3000;
const images = mnist.train.images.subarray(0, N * 784), labels = mnist.train.labels.subarray(0, N);
const testX = Float32Array.from(mnist.test.images.subarray(0, 40 * 784));

let dir: string;
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'wasm-lora-files-')); });
afterAll(async () => { if (dir) await rm(dir, { recursive: true, force: true }); });

const hex = (a: Float32Array | null | undefined) => (a ? createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex') : null);
/** A state with every array replaced by the hash of its bytes: equal ⇔ bit-identical. */
function stateBits(s: ModelStateExport) {
  const adam = (a: ModelStateExport['adam']) => (a ? { t: a.t, m: a.m.map(hex), v: a.v.map(hex) } : null);
  return {
    ...s, W: s.W.map(hex), adam: adam(s.adam),
    adapters: s.adapters.map((a) => ({ ...a, A: a.A.map(hex), B: a.B.map(hex), adam: adam(a.adam) })),
  };
}
function caught(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

// ---- atomic writes --------------------------------------------------------------------------------

describe('atomic writes', () => {
  const leftovers = async (d: string) => (await readdir(d)).filter((f) => f.endsWith('.tmp'));

  it('writes a new file and replaces an old one, leaving no temporary file', async () => {
    const d = await mkdtemp(join(dir, 'atomic-'));
    const f = join(d, 'x.bin');
    await writeFileAtomic(f, new Uint8Array([1, 2, 3]));
    expect([...await readFile(f)]).toEqual([1, 2, 3]);
    await writeFileAtomic(f, async () => [new Uint8Array([4]), new Uint8Array([5, 6])]);
    expect([...await readFile(f)]).toEqual([4, 5, 6]);
    expect(await leftovers(d)).toEqual([]);
  });

  it('a failure mid-write (the source throws after a chunk was written) leaves the old file intact', async () => {
    const d = await mkdtemp(join(dir, 'atomic-'));
    const f = join(d, 'model.safetensors');
    await writeFile(f, 'old contents');
    async function* chunks() {
      yield new Uint8Array(1 << 20).fill(7);
      throw new Error('disk on fire');
    }
    await expect(writeFileAtomic(f, chunks())).rejects.toThrow('disk on fire');
    expect(await readFile(f, 'utf8')).toBe('old contents');
    expect(await leftovers(d)).toEqual([]);
  });

  it('a checkpoint whose serialization throws leaves the old checkpoint intact', async () => {
    const d = await mkdtemp(join(dir, 'atomic-'));
    const f = join(d, 'run.safetensors');
    await writeFile(f, 'previous checkpoint');
    // A model whose state is inconsistent (W too short for its layers): the writer refuses it.
    const broken = { exportState: async () => ({ layers: [4, 3], dropout: 0, seed: 0, step: 0, frozen: false, W: [new Float32Array(5)], adam: null, active: null, adapters: [] }) } as unknown as Mlp;
    await expect(saveCheckpoint(f, broken)).rejects.toThrow(ShapeError);
    expect(await readFile(f, 'utf8')).toBe('previous checkpoint');
    expect(await leftovers(d)).toEqual([]);
  });

  it('system errors become one-line FileErrors; reads refuse folders and FIFOs without blocking', async () => {
    const e = await writeFileAtomic(join(dir, 'no', 'such', 'folder', 'x'), 'x').catch((x) => x);
    expect(e).toBeInstanceOf(FileError);
    expect(e.message).toMatch(/^cannot write .*x: ENOENT: no such file or directory$/);
    await expect(readFileChecked(join(dir, 'missing.safetensors'), 'checkpoint')).rejects.toThrow(/^cannot read the checkpoint .*missing\.safetensors: ENOENT: no such file or directory$/);
    await expect(readFileChecked(dir, 'checkpoint')).rejects.toThrow('it is a folder; expected a file');
    const fifo = join(dir, 'fifo');
    try {
      execFileSync('mkfifo', [fifo]);
    } catch {
      return; // no mkfifo here
    }
    await expect(readFileChecked(fifo, 'model file')).rejects.toThrow('not a regular file');
  });
});

// ---- checkpoints through the engine worker --------------------------------------------------------

describe('checkpoints with the engine in a worker', () => {
  let s1: Session;
  beforeAll(async () => { s1 = await Session.start({ threads: 1 }); });
  afterAll(async () => { await s1?.close(); });

  it('interrupted twice, checkpointed to disk, resumed in fresh sessions: bit-identical to one uninterrupted run', async () => {
    const d1 = await s1.dataset({ images, labels, rowLen: 784 });
    const preOpts = { batchSize: 32, lr: 1e-3 };
    const ftA = { batchSize: 32, lr: 1e-3, classes: [3] };
    const ftB = { batchSize: 32, lr: 1e-3, classes: [8, 9] };
    // Uninterrupted: 8 pre-training steps, adapter "a" 4 steps, adapter "b" 6 steps.
    const A = await s1.mlp({ seed: 5 });
    const la1 = (await A.train(d1, { steps: 8, ...preOpts })).losses;
    await A.loraize({ name: 'a', r: 2, alpha: 1, init: 'peft' });
    const la2 = (await A.train(d1, { steps: 4, ...ftA })).losses;
    await A.loraize({ name: 'b', r: 1, alpha: 0.5, targetModules: ['fc2', 'fc3'], init: 'reference' });
    const la3 = (await A.train(d1, { steps: 6, ...ftB })).losses;
    const final = await A.exportState();

    // Interrupted after 3 pre-training steps …
    const B = await s1.mlp({ seed: 5 });
    await B.train(d1, { steps: 3, ...preOpts });
    const f1 = join(dir, 'pretrain.safetensors');
    await saveCheckpoint(f1, B);
    const s2 = await Session.start({ threads: 1 });
    const s3 = await Session.start({ threads: 1 });
    try {
      const d2 = await s2.dataset({ images, labels, rowLen: 784 });
      const C = await loadModel(s2, f1);
      expect(Array.from((await C.train(d2, { steps: 5, ...preOpts })).losses)).toEqual(Array.from(la1.slice(3)));
      await C.loraize({ name: 'a', r: 2, alpha: 1, init: 'peft' });
      expect(Array.from((await C.train(d2, { steps: 4, ...ftA })).losses)).toEqual(Array.from(la2));
      await C.loraize({ name: 'b', r: 1, alpha: 0.5, targetModules: ['fc2', 'fc3'], init: 'reference' });
      await C.train(d2, { steps: 2, ...ftB });
      // … and again after 2 steps of adapter "b".
      const f2 = join(dir, 'finetune.safetensors');
      await saveCheckpoint(f2, C);
      const d3 = await s3.dataset({ images, labels, rowLen: 784 });
      const D = await loadModel(s3, f2);
      expect((await D.info()).adapters).toEqual(['a', 'b']);
      expect(Array.from((await D.train(d3, { steps: 4, ...ftB })).losses)).toEqual(Array.from(la3.slice(2)));
      expect(stateBits(await D.exportState())).toEqual(stateBits(final));
      expect(await D.frozenHash()).toBe(await A.frozenHash());
    } finally {
      await s2.close();
      await s3.close();
    }
  });

  it('a checkpoint holds every adapter: the loaded model predicts exactly what the saved one did, adapter by adapter', async () => {
    const d = await s1.dataset({ images, labels, rowLen: 784 });
    const m = await s1.mlp({ seed: 9 });
    await m.train(d, { steps: 3, batchSize: 32 });
    for (const [name, cls] of [['digit3', 3], ['digit8', 8], ['digit9', 9]] as const) {
      await m.loraize({ name, r: 2, alpha: 4, init: 'peft' });
      await m.train(d, { steps: 3, batchSize: 32, lr: 1e-3, classes: [cls] });
    }
    await m.setActiveAdapter('digit8');
    const bytes = await m.toCheckpoint();
    const loaded = await s1.loadModel(bytes, { name: 'three-adapters' });
    expect(await loaded.info()).toEqual(await m.info());
    for (const name of [null, 'digit3', 'digit8', 'digit9']) {
      await m.setActiveAdapter(name);
      await loaded.setActiveAdapter(name);
      expect(hex(await loaded.predict(testX, 40))).toBe(hex(await m.predict(testX, 40)));
    }
    // Canonical: saving the loaded model gives the same bytes.
    await loaded.setActiveAdapter('digit8');
    expect(Buffer.compare(Buffer.from(await loaded.toCheckpoint()), Buffer.from(bytes))).toBe(0);

    // A merged model saved as model.safetensors loads and predicts like the adapted model.
    const merged = await m.merge('digit9');
    const f = join(dir, 'merged-model.safetensors');
    await saveBaseModel(f, merged);
    const reloaded = await loadModel(s1, f);
    expect(hex(await reloaded.predict(testX, 40))).toBe(hex(await merged.predict(testX, 40))); // the file is exact
    await m.setActiveAdapter('digit9');
    const adapted = await m.predict(testX, 40), fromFile = await reloaded.predict(testX, 40);
    let maxDiff = 0, maxLogit = 0, agree = 0;
    for (let i = 0; i < 40; i++) {
      const a = adapted.subarray(i * 10, i * 10 + 10), b = fromFile.subarray(i * 10, i * 10 + 10);
      if (a.indexOf(Math.max(...a)) === b.indexOf(Math.max(...b))) agree++;
      for (let c = 0; c < 10; c++) { maxDiff = Math.max(maxDiff, Math.abs(a[c] - b[c])); maxLogit = Math.max(maxLogit, Math.abs(a[c])); }
    }
    console.log(`merged model from model.safetensors vs the adapted model: max |logit diff| = ${maxDiff.toExponential(3)} (max |logit| ${maxLogit.toFixed(2)}), ${agree}/40 argmax agree`);
    expect(agree).toBe(40);
    expect(maxDiff).toBeLessThanOrEqual(1e-5 * maxLogit);
    expect((await reloaded.info())).toMatchObject({ frozen: false, step: 0, adapters: [], layers: [784, 1000, 2000, 10] });
  });

  it('property: random small models, adapters and training round-trip bit-exactly through a checkpoint (fast-check)', async () => {
    const plan = fc.record({
      hidden: fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 0, maxLength: 2 }),
      input: fc.integer({ min: 1, max: 12 }),
      out: fc.integer({ min: 2, max: 6 }),
      seed: fc.nat(1000),
      dropout: fc.constantFrom(0, 0.25),
      preSteps: fc.nat(3),
      adapters: fc.array(fc.record({ r: fc.integer({ min: 1, max: 3 }), alpha: fc.double({ min: 0.1, max: 16, noNaN: true }), steps: fc.nat(2), init: fc.constantFrom('peft', 'reference') as fc.Arbitrary<'peft' | 'reference'>, mask: fc.nat(7) }), { maxLength: 3 }),
      active: fc.nat(3),
    });
    await fc.assert(fc.asyncProperty(plan, async (p) => {
      const layers = [p.input, ...p.hidden, p.out];
      const L = layers.length - 1, mods = moduleNames(L);
      const rows = 24;
      const img = Uint8Array.from({ length: rows * p.input }, (_, i) => (i * 37 + p.seed) % 256);
      const lab = Uint8Array.from({ length: rows }, (_, i) => (i + p.seed) % p.out);
      const d = await s1.dataset({ images: img, labels: lab, rowLen: p.input, numClasses: p.out });
      const m = await s1.mlp({ layers, seed: p.seed, dropout: p.dropout });
      try {
        if (p.preSteps) await m.train(d, { steps: p.preSteps, batchSize: 8, lr: 1e-2 });
        const names: string[] = [];
        for (const [k, a] of p.adapters.entries()) {
          let targets = mods.filter((_, l) => (a.mask >> l) & 1);
          if (targets.length === 0) targets = [mods[L - 1]];
          const r = Math.min(a.r, ...targets.map((t) => { const l = mods.indexOf(t); return Math.min(layers[l], layers[l + 1]); }));
          const name = `ad.${k}`;
          await m.loraize({ name, r, alpha: a.alpha, targetModules: targets, init: a.init });
          if (a.steps) await m.train(d, { steps: a.steps, batchSize: 8, lr: 1e-2 });
          names.push(name);
        }
        if (names.length) await m.setActiveAdapter(p.active < names.length ? names[p.active] : null);
        const state = await m.exportState();
        const bytes = encodeCheckpoint(state);
        expect(stateBits(decodeCheckpoint(bytes).state)).toEqual(stateBits(state));
        const loaded = await s1.loadModel(bytes);
        const x = Float32Array.from({ length: 5 * p.input }, (_, i) => ((i * 13) % 17) - 8);
        for (const name of names.length ? [null, ...names] : [undefined]) {
          if (name !== undefined) { await m.setActiveAdapter(name); await loaded.setActiveAdapter(name); }
          expect(hex(await loaded.predict(x, 5))).toBe(hex(await m.predict(x, 5)));
        }
        await loaded.dispose();
      } finally {
        await m.dispose();
        await d.remove();
      }
    }), { numRuns: 25 });
  });
});

// ---- pure round trips and hostile files -----------------------------------------------------------

/** Arbitrary (consistent) model states with arbitrary finite floats, -0 and subnormals included. */
const floats = (n: number) => fc.float32Array({ minLength: n, maxLength: n, noNaN: true, noDefaultInfinity: true });
const stateArb: fc.Arbitrary<ModelStateExport> = fc.record({
  layers: fc.tuple(fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 3 }), fc.integer({ min: 2, max: 5 })).map(([h, o]) => [...h, o]),
  dropout: fc.double({ min: 0, max: 0.99, noNaN: true }),
  seed: fc.nat(2 ** 32 - 1),
  step: fc.nat(10 ** 6),
}).chain((b) => {
  const L = b.layers.length - 1, mods = moduleNames(L);
  const sizes = b.layers.slice(0, -1).map((n, l) => n * b.layers[l + 1]);
  const adam = (lens: number[]) => fc.option(fc.record({ t: fc.nat(10 ** 6), m: fc.tuple(...lens.map(floats)), v: fc.tuple(...lens.map((n) => floats(n).map((a) => a.map(Math.abs)))) }), { nil: null });
  const adapter = (name: string) => fc.subarray(mods, { minLength: 1 }).chain((targets) => {
    const max = Math.min(...targets.map((t) => { const l = mods.indexOf(t); return Math.min(b.layers[l], b.layers[l + 1]); }));
    return fc.integer({ min: 1, max }).chain((r) => {
      const on = mods.map((m) => targets.includes(m));
      const lens = on.flatMap((x, l) => (x ? [r * b.layers[l], b.layers[l + 1] * r] : []));
      return fc.record({
        name: fc.constant(name), r: fc.constant(r), alpha: fc.double({ min: 1e-3, max: 1e3, noNaN: true }),
        init: fc.constantFrom('peft', 'reference') as fc.Arbitrary<'peft' | 'reference'>, targetModules: fc.constant(targets),
        A: fc.tuple(...on.map((x, l) => (x ? floats(r * b.layers[l]) : fc.constant(null)))),
        B: fc.tuple(...on.map((x, l) => (x ? floats(b.layers[l + 1] * r) : fc.constant(null)))),
        adam: adam(lens),
      });
    });
  });
  return fc.subarray(['default', 'digit.8', 'a-b_c', 'x'], { maxLength: 3 }).chain((names) => fc.record({
    layers: fc.constant(b.layers), dropout: fc.constant(b.dropout), seed: fc.constant(b.seed), step: fc.constant(b.step),
    frozen: names.length ? fc.constant(true) : fc.boolean(),
    W: fc.tuple(...sizes.map(floats)),
    adam: names.length ? fc.constant(null) : adam(sizes),
    active: names.length ? fc.constantFrom(null, ...names) : fc.constant(null),
    adapters: fc.tuple(...names.map(adapter)),
  }));
}) as fc.Arbitrary<ModelStateExport>;

describe('checkpoint and base-model files (no engine)', () => {
  it('property: encode → decode is the identity, bit for bit, and encoding is canonical', () => {
    fc.assert(fc.property(stateArb, (s) => {
      const bytes = encodeCheckpoint(s, { note: 'x' });
      const back = decodeCheckpoint(bytes, 'p');
      expect(stateBits(back.state)).toEqual(stateBits(s));
      expect(back.metadata.note).toBe('x');
      expect(Buffer.compare(Buffer.from(encodeCheckpoint(back.state, { note: 'x' })), Buffer.from(bytes))).toBe(0);
    }), { numRuns: 300 });
  });

  it('property: model.safetensors holds W transposed (PyTorch (out, in)) and reads back exactly', () => {
    fc.assert(fc.property(stateArb, (s) => {
      const bytes = encodeBaseModel(s);
      const st = parseSafetensors(bytes);
      s.W.forEach((w, l) => {
        const nIn = s.layers[l], nOut = s.layers[l + 1];
        const t = st.tensors.get(`fc${l + 1}.weight`)!;
        expect(t.shape).toEqual([nOut, nIn]);
        const v = t.toFloat32();
        for (let i = 0; i < nIn; i++) for (let o = 0; o < nOut; o++) expect(Object.is(v[o * nIn + i], w[i * nOut + o])).toBe(true);
      });
      const b = decodeBaseModel(bytes);
      expect(b.W.map(hex)).toEqual(s.W.map(hex));
      expect(b).toMatchObject({ layers: s.layers, dropout: s.dropout, seed: s.seed });
    }), { numRuns: 200 });
  });

  // A valid small checkpoint to damage.
  const layers = [4, 3, 2];
  const good: ModelStateExport = {
    layers, dropout: 0.3, seed: 1, step: 7, frozen: true, adam: null, active: 'a',
    W: [Float32Array.from({ length: 12 }, (_, i) => i / 8), Float32Array.from({ length: 6 }, (_, i) => -i)],
    adapters: [{
      name: 'a', r: 1, alpha: 0.5, init: 'peft', targetModules: ['fc1', 'fc2'],
      A: [new Float32Array(4).fill(0.25), new Float32Array(3).fill(1)], B: [new Float32Array(3).fill(2), new Float32Array(2).fill(-1)],
      adam: { t: 3, m: [new Float32Array(4), new Float32Array(3), new Float32Array(3), new Float32Array(2)], v: [new Float32Array(4), new Float32Array(3), new Float32Array(3), new Float32Array(2)] },
    }],
  };
  const goodBytes = encodeCheckpoint(good);
  /** The good checkpoint with metadata and tensors patched (undefined removes). */
  function damage(meta: Record<string, string | undefined>, tensors: Record<string, TensorInput | undefined> = {}): Uint8Array {
    const st = parseSafetensors(goodBytes);
    const t: Record<string, TensorInput> = {};
    for (const [k, v] of st.tensors) t[k] = { dtype: v.dtype, shape: v.shape, data: v.bytes };
    for (const [k, v] of Object.entries(tensors)) { if (v) t[k] = v; else delete t[k]; }
    const m: Record<string, string> = { ...st.metadata };
    for (const [k, v] of Object.entries(meta)) { if (v === undefined) delete m[k]; else m[k] = v; }
    return serializeSafetensors(t, m);
  }
  const f32 = (shape: number[], fill = 0): TensorInput => ({ dtype: 'F32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(fill) });
  const cases: [string, Uint8Array, CheckpointErrorCode, string][] = [
    ['no format', damage({ format: undefined }), 'wrong-kind', 'metadata format missing; expected "wasm-lora-checkpoint"'],
    ['a base model', encodeBaseModel(good), 'wrong-kind', 'it looks like a base model (model.safetensors)'],
    ['a PEFT adapter', serializeSafetensors({ 'base_model.model.fc1.lora_A.weight': f32([1, 4]) }, { format: 'pt' }), 'wrong-kind', 'it looks like a PEFT adapter'],
    ['version 2', damage({ version: '2' }), 'unsupported-version', 'checkpoint version "2"; this wasm-lora reads version 1'],
    ['layers not JSON', damage({ layers: '[4,3,' }), 'bad-metadata', 'metadata "layers" is "[4,3,", not JSON'],
    ['one layer', damage({ layers: '[4]' }), 'bad-metadata', 'layers must list at least an input and an output width'],
    ['layers disagree with tensors', damage({ layers: '[4,3,3]' }), 'bad-shape', 'tensor base.fc2.W has shape [3, 2]; expected [3, 3]'],
    ['negative step', damage({ step: '-1' }), 'bad-metadata', 'step must be ≥ 0, got -1'],
    ['frozen "yes"', damage({ frozen: '"yes"' }), 'bad-metadata', 'metadata "frozen" is'],
    ['adapters not a list', damage({ adapters: '{}' }), 'bad-metadata', 'metadata "adapters" is not a JSON list'],
    ['adapter with an unknown field', damage({ adapters: '[{"name":"a","r":1,"alpha":0.5,"init":"peft","target_modules":["fc1","fc2"],"adam_t":3,"dora":true}]' }), 'bad-metadata', 'unknown field "dora"'],
    ['adapter rank too large', damage({ adapters: '[{"name":"a","r":3,"alpha":0.5,"init":"peft","target_modules":["fc1","fc2"],"adam_t":3}]' }), 'bad-metadata', 'rank r = 3 is larger than layer fc2 (3×2) allows'],
    ['adapter without alpha', damage({ adapters: '[{"name":"a","r":1,"init":"peft","target_modules":["fc1"],"adam_t":null}]' }), 'bad-metadata', 'needs name, r, alpha, init and target_modules'],
    ['adapter listed twice', damage({ adapters: '[{"name":"a","r":1,"alpha":0.5,"init":"peft","target_modules":["fc1","fc2"],"adam_t":3},{"name":"a","r":1,"alpha":0.5,"init":"peft","target_modules":["fc1"],"adam_t":null}]' }), 'bad-metadata', 'adapter "a" is listed twice'],
    ['unknown active adapter', damage({ active: 'b' }), 'bad-metadata', 'the active adapter "b" is not among the adapters (a)'],
    ['adapters on an unfrozen base', damage({ frozen: 'false' }), 'bad-metadata', 'has adapters but its base is not frozen'],
    ['a missing tensor', damage({}, { 'base.fc2.W': undefined }), 'missing-tensor', 'tensor base.fc2.W is missing; expected F32 of shape [3, 2]'],
    ['missing Adam moments', damage({ base_adam_t: '5' }), 'missing-tensor', 'base.fc1.W.adam_m is missing'],
    ['an extra tensor', damage({}, { 'base.fc3.W': f32([2, 2]) }), 'unexpected-tensor', 'unexpected tensor "base.fc3.W"'],
    ['W transposed', damage({}, { 'base.fc1.W': f32([3, 4]) }), 'bad-shape', 'tensor base.fc1.W has shape [3, 4]; expected [4, 3]'],
    ['integer weights', damage({}, { 'base.fc1.W': { dtype: 'I32', shape: [4, 3], data: new Int32Array(12) } }), 'bad-dtype', 'tensor base.fc1.W is I32; expected F32'],
    ['NaN weight', damage({}, { 'base.fc2.W': f32([3, 2], NaN) }), 'bad-value', 'tensor base.fc2.W holds NaN at index 0'],
    ['infinite moment', damage({}, { 'adapter.a.fc1.lora_A.adam_m': f32([1, 4], -Infinity) }), 'bad-value', '-Infinity'],
    ['negative second moment', damage({}, { 'adapter.a.fc2.lora_B.adam_v': f32([2, 1], -1e-30) }), 'bad-value', "Adam's second moments are ≥ 0"],
  ];
  it.each(cases.map(([label, bytes, code, fragment]) => ({ label, bytes, code, fragment })))('hostile checkpoint: $label → $code', ({ bytes, code, fragment }) => {
    const e = caught(() => decodeCheckpoint(bytes, 'bad.safetensors'));
    expect(e).toBeInstanceOf(CheckpointError);
    expect({ code: (e as CheckpointError).code, message: e.message }).toMatchObject({ code });
    expect(e.message).toMatch(/^bad\.safetensors: /);
    expect(e.message).toContain(fragment);
  });

  it('the undamaged checkpoint reads; damage at the container level is a SafetensorsError', () => {
    expect(stateBits(decodeCheckpoint(goodBytes).state)).toEqual(stateBits(good));
    expect(caught(() => decodeCheckpoint(goodBytes.subarray(0, goodBytes.length - 1), 'cut'))).toBeInstanceOf(SafetensorsError);
    expect(caught(() => decodeModelFile(new Uint8Array(12), 'zeros'))).toBeInstanceOf(SafetensorsError);
  });

  const base = (t: Record<string, TensorInput>, meta: Record<string, string> = { format: 'pt' }) => serializeSafetensors(t, meta);
  const baseCases: [string, Uint8Array, CheckpointErrorCode, string][] = [
    ['biases', base({ 'fc1.weight': f32([3, 4]), 'fc1.bias': f32([3]), 'fc2.weight': f32([2, 3]) }), 'unexpected-tensor', 'unexpected tensor "fc1.bias" (wasm-lora\'s MLP has no biases)'],
    ['a layer missing', base({ 'fc1.weight': f32([3, 4]), 'fc3.weight': f32([2, 3]) }), 'missing-tensor', 'tensor fc2.weight is missing; expected fc1.weight … fc3.weight'],
    ['widths that do not chain', base({ 'fc1.weight': f32([3, 4]), 'fc2.weight': f32([2, 5]) }), 'bad-shape', 'tensor fc2.weight has shape [2, 5]; expected 3 inputs, the outputs of fc1'],
    ['a 3-D weight', base({ 'fc1.weight': f32([3, 4, 1]) }), 'bad-shape', 'has 3 dimensions; expected 2, (out, in)'],
    ['one output class', base({ 'fc1.weight': f32([1, 4]) }), 'bad-shape', 'the output layer needs at least 2 classes'],
    ['metadata layers disagree', base({ 'fc1.weight': f32([3, 4]), 'fc2.weight': f32([2, 3]) }, { format: 'pt', layers: '[784,10]' }), 'bad-metadata', 'metadata layers "[784,10]" disagree with the tensors\' shapes [4,3,2]'],
    ['bad metadata dropout', base({ 'fc1.weight': f32([2, 4]) }, { format: 'pt', dropout: '1.5' }), 'bad-metadata', 'dropout must be ≥ 0 and < 1, got 1.5'],
    ['no fc1.weight', base({ 'linear.weight': f32([2, 4]) }), 'wrong-kind', 'no tensor fc1.weight'],
    ['a PEFT adapter', base({ 'base_model.model.fc1.lora_A.weight': f32([1, 4]) }), 'wrong-kind', 'it looks like a PEFT adapter'],
    ['infinite weight', base({ 'fc1.weight': f32([2, 4], Infinity) }), 'bad-value', 'holds Infinity'],
  ];
  it.each(baseCases.map(([label, bytes, code, fragment]) => ({ label, bytes, code, fragment })))('hostile model.safetensors: $label → $code', ({ bytes, code, fragment }) => {
    const e = caught(() => decodeBaseModel(bytes, 'model.safetensors'));
    expect(e).toBeInstanceOf(CheckpointError);
    expect({ code: (e as CheckpointError).code, message: e.message }).toMatchObject({ code });
    expect(e.message).toContain(fragment);
  });

  it('a PyTorch-written model (no metadata but format, F16 weights) loads with default dropout and seed', () => {
    const half = (n: number) => ({ dtype: 'F16' as const, shape: [] as number[], data: new Uint16Array(n).fill(0x3c00) }); // 1.0
    const f = decodeModelFile(base({ 'fc1.weight': { ...half(12), shape: [3, 4] }, 'fc2.weight': { ...half(6), shape: [2, 3] } }), 'torch.safetensors');
    expect(f.kind).toBe('model');
    if (f.kind === 'model') {
      expect(f.base.layers).toEqual([4, 3, 2]);
      expect(Array.from(f.base.W[0])).toEqual(new Array(12).fill(1));
      expect(f.base.dropout).toBeUndefined();
    }
  });
});

// ---- the reader's memory bound --------------------------------------------------------------------

describe('safetensors reader: memory stays proportional to the file', () => {
  it('24 MB hostile headers (millions of empty containers, or of dimensions) parse under a 160 MB heap', async () => {
    // Before containers that can never be valid were skipped, the "{}" header alone needed ~1.6 GB.
    const code = `import('./src/io/safetensors.ts').then(({ parseSafetensors }) => {
      const n = 8_000_000, out = [];
      const headers = {
        emptyObjects: '{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0],"x":[' + '{},'.repeat(n) + '{}]}}',
        emptyArrays: '{"__metadata__":{"k":[' + '[],'.repeat(n) + '[]]}}',
        dimensions: '{"a":{"dtype":"U8","shape":[' + '0,'.repeat(n / 2) + '0],"data_offsets":[0,0]}}',
      };
      for (const [k, h] of Object.entries(headers)) {
        const t = new TextEncoder().encode(h), f = new Uint8Array(8 + t.length);
        new DataView(f.buffer).setBigUint64(0, BigInt(t.length), true);
        f.set(t, 8);
        try { parseSafetensors(f); out.push(k + ':ok'); } catch (e) { out.push(k + ':' + e.code); }
      }
      console.log(out.join(' '));
    });`;
    const r = await promisify(execFile)(process.execPath, ['--max-old-space-size=160', '--import', 'tsx', '-e', code], { cwd: root });
    expect(r.stdout.trim()).toBe('emptyObjects:bad-entry emptyArrays:bad-metadata dimensions:ok');
  });
});

// ---- the command line -----------------------------------------------------------------------------

const cli = (args: string[]) =>
  promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { cwd: root, maxBuffer: 16 << 20 })
    .then((r) => ({ code: 0, ...r }), (e) => ({ code: e.code as number, stdout: e.stdout as string, stderr: e.stderr as string }));

describe('CLI file flags', () => {
  it('flag combinations are checked before any work', () => {
    const bad: [string[], string][] = [
      [['--resume', 'x', '--lr', '0.1'], '--resume continues with the settings stored in the checkpoint; drop --lr'],
      [['--resume', 'x', '--load', 'y', '--seed', '2'], 'drop --seed, --load'],
      [['--load', 'm', '--steps', '10'], '--load skips pre-training; drop --steps'],
      [['--import-adapter', 'd', '--rank', '4'], "--import-adapter takes r, alpha and target modules from the adapter's config; drop --rank"],
      [['--save', ''], '--save expects a file name'],
      [['--export-peft', ''], '--export-peft expects a folder or file name'],
    ];
    for (const [args, msg] of bad) {
      const e = caught(() => parseCli(args));
      expect(e).toBeInstanceOf(OptionError);
      expect(e.message).toContain(msg);
    }
    expect(parseCli(['--resume', 'r', '--save', 'r', '--threads', '1', '--no-progress'])).toMatchObject({ resume: 'r', save: 'r' });
    expect(parseCli(['--load', 'm', '--import-adapter', 'd', '--ft-steps', '0', '--seed', '3'])).toMatchObject({ load: 'm', importAdapter: 'd' });
  });

  it('a bad or hostile file: one line on stderr, exit code 1, nothing written', async () => {
    const d = await mkdtemp(join(dir, 'cli-bad-'));
    const garbage = join(d, 'garbage.safetensors');
    await writeFile(garbage, Buffer.from('not a safetensors file at all'));
    const huge = join(d, 'huge.safetensors');
    const h = Buffer.alloc(16);
    h.writeBigUInt64LE(2n ** 60n);
    await writeFile(huge, h);
    const peft = join(d, 'peft');
    await mkdir(peft);
    await writeFile(join(peft, 'adapter_model.safetensors'), serializeSafetensors({ 'base_model.model.fc1.lora_A.weight': { dtype: 'F32', shape: [1, 784], data: new Float32Array(784) } }, { format: 'pt' }));
    await writeFile(join(peft, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 1, lora_alpha: 1, target_modules: ['fc1'], use_dora: true }));
    const model = join(d, 'model.safetensors');
    await writeFile(model, encodeBaseModel({ layers: [784, 3, 10], W: [new Float32Array(784 * 3), new Float32Array(30)] }));
    const plainCheckpoint = join(d, 'plain.safetensors');
    await writeFile(plainCheckpoint, encodeCheckpoint({ layers: [784, 3, 10], dropout: 0, seed: 0, step: 0, frozen: false, W: [new Float32Array(784 * 3), new Float32Array(30)], adam: null, active: null, adapters: [] }));
    const save = join(d, 'save.safetensors');
    const cases: [string[], RegExp][] = [
      [['--load', garbage], /^wasm-lora: .*garbage\.safetensors: header length \d+ exceeds the cap of 100000000 bytes$/],
      [['--load', huge], /^wasm-lora: .*huge\.safetensors: header length 1152921504606846976 exceeds the cap of 100000000 bytes$/],
      [['--load', join(d, 'missing.safetensors')], /^wasm-lora: cannot read the model file .*missing\.safetensors: ENOENT: no such file or directory$/],
      [['--load', d], /^wasm-lora: cannot read the model file .*: it is a folder; expected a file$/],
      [['--load', join(peft, 'adapter_model.safetensors')], /it looks like a PEFT adapter \(adapter_model\.safetensors\): import it as an adapter$/],
      [['--resume', model], /model\.safetensors: not a wasm-lora checkpoint \(metadata format "pt"; expected "wasm-lora-checkpoint"\); it looks like a base model/],
      [['--resume', plainCheckpoint], /plain\.safetensors: this checkpoint holds no run settings; --resume continues runs saved by --save/],
      [['--import-adapter', peft], /adapter_config\.json: use_dora is true; expected false \(DoRA is not supported\)$/],
      [['--load', model, '--save', join(d, 'no', 'folder', 'x.safetensors')], /^wasm-lora: --save .*x\.safetensors: the folder .* does not exist or is not writable$/],
    ];
    for (const [args, re] of cases) {
      const r = await cli([...args, '--no-progress']);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      expect(r.stderr.trim()).toMatch(re);
    }
    // A base model with the wrong input width is refused once the data is known (still one line).
    await writeFile(model, encodeBaseModel({ layers: [100, 3, 10], W: [new Float32Array(300), new Float32Array(30)] }));
    const r = await cli(['--load', model, '--no-progress', '--save', save]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('wasm-lora: the model takes 100 inputs but the images have 784 pixels');
    expect(existsSync(save)).toBe(false);
  });

  it('--save, --export-peft, Ctrl-C + --resume (same numbers, same checkpoint bytes), --load + --import-adapter', async () => {
    const d = await mkdtemp(join(dir, 'cli-run-'));
    const common = ['--steps', '40', '--ft-steps', '30', '--seed', '3', '--threads', '1'];
    // 1. Uninterrupted.
    const a = await cli([...common, '--no-progress', '--save', join(d, 'full.safetensors'), '--export-peft', join(d, 'peft'), '--report', join(d, 'a.json')]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toContain(`checkpoint: ${join(d, 'full.safetensors')} (model step 70)`);
    const ra = JSON.parse(await readFile(join(d, 'a.json'), 'utf8'));
    expect((await readdir(join(d, 'peft'))).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors', 'model.safetensors']);

    // 2. The same run stopped by SIGINT (Ctrl-C) once during pre-training and once during
    //    fine-tuning (two processes at once), then resumed: same numbers, same final checkpoint.
    const interrupted = async (phase: RegExp, file: string) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...common, '--save', file], { cwd: root });
      let out = '', err = '';
      child.stderr.on('data', (b) => { err += b; });
      child.stdout.on('data', (b) => {
        out += b;
        if (phase.test(out) && !child.killed) child.kill('SIGINT');
      });
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      console.log(`interrupted run: exit ${code}; ${err.trim()}`);
      return { code, err };
    };
    const runs = [
      { file: join(d, 'int-pre.safetensors'), phase: /pre-train .* \d+\/40/ },
      { file: join(d, 'int-ft.safetensors'), phase: /fine-tune .* \d+\/30/ },
    ];
    const stops = await Promise.all(runs.map((x) => interrupted(x.phase, x.file)));
    const resumed = await Promise.all(runs.map(async ({ file }, k) => {
      if (stops[k].code !== 130) {
        expect(stops[k].code).toBe(0); // the signal came too late to interrupt: still a complete run
        return null;
      }
      expect(stops[k].err.trim()).toMatch(/^wasm-lora: interrupted; checkpoint at model step \d+ saved to .*\.safetensors; continue with: --resume .*\.safetensors --save .*\.safetensors$/);
      const report = join(d, `resumed-${k}.json`);
      const r = await cli(['--resume', file, '--save', file, '--threads', '1', '--no-progress', '--report', report]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/resuming .*\.safetensors at step \d+/);
      return JSON.parse(await readFile(report, 'utf8'));
    }));
    expect(stops.filter((x) => x.code === 130).length).toBeGreaterThan(0);
    for (const rb of resumed) {
      if (!rb) continue;
      for (const k of ['accuracyBefore', 'accuracyAfter', 'mislabeledBefore', 'mislabeledAfter', 'worstClass', 'targetClass', 'frozenHashBefore', 'frozenHashAfter', 'params', 'losses', 'confusionBefore', 'confusionAfter', 'settings']) {
        expect(rb[k], k).toEqual(ra[k]);
      }
      expect(rb.resumedFromStep).toBeGreaterThanOrEqual(0);
    }
    // Either way the final checkpoints are byte-identical to the uninterrupted run's.
    for (const { file } of runs) expect(Buffer.compare(await readFile(file), await readFile(join(d, 'full.safetensors'))), file).toBe(0);

    // 3. The exported base + adapter, loaded back without training: the same before/after numbers.
    const c = await cli(['--load', join(d, 'peft', 'model.safetensors'), '--import-adapter', join(d, 'peft'), '--ft-steps', '0', '--seed', '3', '--threads', '1', '--no-progress', '--report', join(d, 'c.json')]);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toContain('pre-train: skipped, the base weights were loaded');
    const rc = JSON.parse(await readFile(join(d, 'c.json'), 'utf8'));
    for (const k of ['accuracyBefore', 'accuracyAfter', 'mislabeledBefore', 'mislabeledAfter', 'frozenHashBefore', 'params']) expect(rc[k], k).toEqual(ra[k]);
    expect(rc.loadedBase).toBe(true);
  });
});
