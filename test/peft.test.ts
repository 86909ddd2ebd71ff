// PEFT interchange: the exported files are exactly what PEFT's save_pretrained writes (config
// fields, key names, orientations, metadata), they import back bit-exactly, bad configs and
// tensors are refused with their own codes, and an independent numpy implementation
// (scripts/peft_check.py, its own safetensors parser) reproduces the engine's predictions from the
// files alone.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeBaseModel } from '../src/io/checkpoint.js';
import { exportPeft, loadPeftAdapter } from '../src/io/files-node.js';
import { adapterFromPeft, decodePeftAdapter, encodePeft, parsePeftAdapter, PeftError, type PeftErrorCode } from '../src/io/peft.js';
import { parseSafetensors, serializeSafetensors } from '../src/io/safetensors.js';
import { loadMnist } from '../src/mnist-node.js';
import type { Mlp } from '../src/mlp.js';
import { Dataset, Session } from '../src/session.js';
import type { ModelStateExport } from '../src/types.js';

const mnist = await loadMnist();
const N = 4000;
const images = mnist.train.images.subarray(0, N * 784), labels = mnist.train.labels.subarray(0, N);

let session: Session;
let train: Dataset;
let model: Mlp; // pre-trained, two adapters: "digit8" (trained, r 4, fc1+fc3) and "default" (active, trained, r 2, all)
let state: ModelStateExport;
let dir: string;

beforeAll(async () => {
  session = await Session.start({ threads: 1 });
  train = await session.dataset({ images, labels, rowLen: 784 });
  model = await session.mlp({ seed: 7 });
  await model.train(train, { steps: 30, batchSize: 64 });
  await model.loraize({ name: 'digit8', r: 4, alpha: 8, targetModules: ['fc1', 'fc3'], init: 'peft' });
  await model.train(train, { steps: 15, batchSize: 64, lr: 1e-3, classes: [8] });
  await model.loraize({ r: 2, alpha: 0.5, init: 'reference' });
  await model.train(train, { steps: 10, batchSize: 64, lr: 1e-4 });
  state = await model.exportState();
  dir = await mkdtemp(join(tmpdir(), 'wasm-lora-peft-'));
});

afterAll(async () => {
  await session?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const bits = (a: Float32Array | null) => (a ? Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex') : null);

describe('PEFT export', () => {
  it('adapter_config.json has PEFT\'s fields and values', () => {
    const f = encodePeft(state, { adapter: 'digit8' });
    expect(JSON.parse(f.configJson)).toEqual({
      alpha_pattern: {}, base_model_name_or_path: null, bias: 'none', fan_in_fan_out: false, inference_mode: true,
      init_lora_weights: true, layers_pattern: null, layers_to_transform: null, lora_alpha: 8, lora_dropout: 0,
      modules_to_save: null, peft_type: 'LORA', r: 4, rank_pattern: {}, revision: null, target_modules: ['fc1', 'fc3'],
      task_type: null, use_dora: false, use_rslora: false,
    });
    expect(f.configJson).toContain('"lora_dropout": 0.0,');
    expect(Object.keys(JSON.parse(f.configJson))).toEqual(Object.keys(JSON.parse(f.configJson)).sort()); // sorted like PEFT
    // The reference init is not one of PEFT's: marked false.
    expect(JSON.parse(encodePeft(state).configJson)).toMatchObject({ r: 2, lora_alpha: 0.5, init_lora_weights: false, target_modules: ['fc1', 'fc2', 'fc3'] });
  });

  it('adapter_model.safetensors: PEFT key names, (r, in) and (out, r), F32, format "pt"; model.safetensors transposed', () => {
    const f = encodePeft(state, { adapter: 'digit8' });
    const st = parseSafetensors(f.adapter);
    expect(st.metadata).toEqual({ format: 'pt' });
    expect([...st.tensors].map(([k, t]) => [k, t.dtype, t.shape])).toEqual([
      ['base_model.model.fc1.lora_A.weight', 'F32', [4, 784]],
      ['base_model.model.fc1.lora_B.weight', 'F32', [1000, 4]],
      ['base_model.model.fc3.lora_A.weight', 'F32', [4, 2000]],
      ['base_model.model.fc3.lora_B.weight', 'F32', [10, 4]],
    ]);
    const a = state.adapters.find((x) => x.name === 'digit8')!;
    expect(bits(st.tensors.get('base_model.model.fc3.lora_B.weight')!.toFloat32())).toBe(bits(a.B[2]));
    const m = parseSafetensors(f.model);
    expect(m.metadata).toMatchObject({ format: 'pt', layers: '[784,1000,2000,10]' });
    expect([...m.tensors].map(([k, t]) => [k, t.shape])).toEqual([['fc1.weight', [1000, 784]], ['fc2.weight', [2000, 1000]], ['fc3.weight', [10, 2000]]]);
    const w2 = m.tensors.get('fc2.weight')!.toFloat32(); // (out, in)
    for (const [i, o] of [[0, 0], [3, 1999], [999, 5], [517, 1234]]) expect(w2[o * 1000 + i]).toBe(state.W[1][i * 2000 + o]);
  });

  it('exports the active adapter by default, any one by name, and refuses an unknown one', () => {
    expect(JSON.parse(encodePeft(state).configJson).r).toBe(2);
    expect(() => encodePeft(state, { adapter: 'nope' })).toThrow(PeftError);
    expect(() => encodePeft({ ...state, active: null })).toThrow('several adapters and none is active');
  });
});

describe('PEFT import', () => {
  it('round trip through files: factors bit-exact, same predictions as the original adapter', async () => {
    const out = join(dir, 'digit8');
    await exportPeft(out, model, { adapter: 'digit8' });
    const base = await session.loadModel(new Uint8Array(await readFile(join(out, 'model.safetensors'))));
    const adapted = await loadPeftAdapter(base, out, 'digit8');
    const s2 = await adapted.exportState();
    const a = state.adapters.find((x) => x.name === 'digit8')!, b = s2.adapters[0];
    expect({ ...b, A: b.A.map(bits), B: b.B.map(bits) }).toEqual({ ...a, A: a.A.map(bits), B: a.B.map(bits), adam: null });
    s2.W.forEach((w, l) => expect(bits(w)).toBe(bits(state.W[l])));
    // The same file passed directly (its config sits next to it).
    const again = await loadPeftAdapter(base, join(out, 'adapter_model.safetensors'), 'x');
    expect((await again.info()).lora).toMatchObject({ name: 'x', r: 4, alpha: 8 });
    await model.setActiveAdapter('digit8');
    const x = Float32Array.from(mnist.test.images.subarray(0, 50 * 784));
    expect(bits(await adapted.predict(x, 50))).toBe(bits(await model.predict(x, 50)));
    await model.setActiveAdapter('default');
    await Promise.all([base.dispose(), adapted.dispose(), again.dispose()]);
  });

  // A synthetic model (collected before beforeAll runs): r 4, α 8 on fc1 and fc3.
  const files = encodePeft({
    layers: [784, 1000, 2000, 10], dropout: 0.3, seed: 0, step: 0, frozen: true, adam: null, active: 'digit8',
    W: [new Float32Array(784_000), new Float32Array(2_000_000), new Float32Array(20_000)],
    adapters: [{
      name: 'digit8', r: 4, alpha: 8, init: 'peft', targetModules: ['fc1', 'fc3'], adam: null,
      A: [new Float32Array(4 * 784), null, new Float32Array(4 * 2000)], B: [new Float32Array(4000), null, new Float32Array(40)],
    }],
  });
  const cfg = JSON.parse(files.configJson) as Record<string, unknown>;
  const layers = [784, 1000, 2000, 10];
  const fc1 = { A: new Float32Array(4 * 784), B: new Float32Array(1000 * 4) };
  const tensors = (extra: Record<string, { shape: number[]; data: Float32Array }> = {}, drop: string[] = []) => {
    const t: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {
      'base_model.model.fc1.lora_A.weight': { dtype: 'F32', shape: [4, 784], data: fc1.A },
      'base_model.model.fc1.lora_B.weight': { dtype: 'F32', shape: [1000, 4], data: fc1.B },
      'base_model.model.fc3.lora_A.weight': { dtype: 'F32', shape: [4, 2000], data: new Float32Array(8000) },
      'base_model.model.fc3.lora_B.weight': { dtype: 'F32', shape: [10, 4], data: new Float32Array(40) },
    };
    for (const k of drop) delete t[k];
    for (const [k, v] of Object.entries(extra)) t[k] = { dtype: 'F32', ...v };
    return serializeSafetensors(t, { format: 'pt' });
  };
  const withCfg = (patch: Record<string, unknown>) => JSON.stringify({ ...cfg, ...patch });
  const cases: [string, string, Uint8Array, PeftErrorCode, string][] = [
    ['config not JSON', '{"r": 4,', files.adapter, 'bad-config', 'not valid JSON'],
    ['config an array', '[]', files.adapter, 'bad-config', 'expected a JSON object'],
    ['not LoRA', withCfg({ peft_type: 'IA3' }), files.adapter, 'unsupported-config', 'peft_type is "IA3"; expected "LORA"'],
    ['no peft_type', withCfg({ peft_type: undefined }), files.adapter, 'bad-config', 'peft_type'],
    ['r zero', withCfg({ r: 0 }), files.adapter, 'bad-config', 'r is 0; expected a positive integer'],
    ['r fractional', withCfg({ r: 1.5 }), files.adapter, 'bad-config', 'r is 1.5'],
    ['alpha a string', withCfg({ lora_alpha: '8' }), files.adapter, 'bad-config', 'lora_alpha is "8"'],
    ['fan_in_fan_out', withCfg({ fan_in_fan_out: true }), files.adapter, 'unsupported-config', 'fan_in_fan_out is true'],
    ['biases', withCfg({ bias: 'lora_only' }), files.adapter, 'unsupported-config', 'bias is "lora_only"'],
    ['DoRA', withCfg({ use_dora: true }), files.adapter, 'unsupported-config', 'use_dora'],
    ['rsLoRA', withCfg({ use_rslora: true }), files.adapter, 'unsupported-config', 'α/√r'],
    ['rank pattern', withCfg({ rank_pattern: { fc1: 8 } }), files.adapter, 'unsupported-config', 'rank_pattern'],
    ['modules_to_save', withCfg({ modules_to_save: ['fc3'] }), files.adapter, 'unsupported-config', 'modules_to_save'],
    ['layers_to_transform', withCfg({ layers_to_transform: [0] }), files.adapter, 'unsupported-config', 'layers_to_transform'],
    ['regex targets', withCfg({ target_modules: '.*fc[13]' }), files.adapter, 'unsupported-config', 'the pattern'],
    ['empty targets', withCfg({ target_modules: [] }), files.adapter, 'bad-config', 'target_modules'],
    ['duplicate target', withCfg({ target_modules: ['fc1', 'fc1'] }), files.adapter, 'bad-config', 'twice'],
    ['unknown module', withCfg({ target_modules: ['fc1', 'fc3', 'fc4'] }), files.adapter, 'unknown-module', 'target module "fc4" is not in this model'],
    ['rank too large', withCfg({ r: 11 }), files.adapter, 'bad-config', 'r = 11 is larger than layer fc3'],
    ['bad lora_dropout', withCfg({ lora_dropout: 1 }), files.adapter, 'bad-config', 'lora_dropout'],
    ['config r ≠ tensors', withCfg({ r: 3 }), files.adapter, 'bad-shape', 'base_model.model.fc1.lora_A.weight has shape [4, 784]; expected [3, 784]'],
    ['missing tensor', withCfg({}), tensors({}, ['base_model.model.fc3.lora_B.weight']), 'missing-tensor', 'base_model.model.fc3.lora_B.weight is missing'],
    ['extra tensor', withCfg({}), tensors({ 'base_model.model.fc2.lora_A.weight': { shape: [4, 1000], data: new Float32Array(4000) } }), 'unexpected-tensor', 'unexpected tensor "base_model.model.fc2.lora_A.weight"'],
    ['adapter name in the key', withCfg({}), tensors({ 'base_model.model.fc1.lora_A.default.weight': { shape: [1], data: new Float32Array(1) } }), 'unexpected-tensor', "PEFT's save_pretrained leaves it out"],
    ['transposed B', withCfg({}), tensors({ 'base_model.model.fc1.lora_B.weight': { shape: [4, 1000], data: fc1.B } }), 'bad-shape', 'expected [1000, 4]'],
    ['NaN in A', withCfg({}), tensors({ 'base_model.model.fc1.lora_A.weight': { shape: [4, 784], data: new Float32Array(4 * 784).fill(NaN) } }), 'bad-value', 'NaN at index 0'],
    ['integer tensor', withCfg({}), serializeSafetensors({ 'base_model.model.fc1.lora_A.weight': { dtype: 'I32', shape: [4, 784], data: new Int32Array(4 * 784) } }), 'bad-dtype', 'is I32'],
  ];
  it.each(cases.map(([label, config, bytes, code, fragment]) => ({ label, config, bytes, code, fragment })))('$label → $code', ({ config, bytes, code, fragment }) => {
    let err: unknown;
    try {
      decodePeftAdapter(config, bytes, layers, { files: { config: 'cfg.json', adapter: 'ad.safetensors' } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PeftError);
    expect((err as PeftError).code).toBe(code);
    expect((err as Error).message).toContain(fragment);
    expect((err as Error).message).toMatch(/^(cfg\.json|ad\.safetensors): /);
    expect((err as Error).message).not.toContain('\n');
  });

  it('accepts what PEFT writes that does not change the math (extra fields, lora_dropout, null patterns)', () => {
    const p = parsePeftAdapter(withCfg({ lora_dropout: 0.1, megatron_core: 'megatron.core', loftq_config: {}, rank_pattern: null, target_modules: 'fc1', use_dora: undefined }),
      tensors({}, ['base_model.model.fc3.lora_A.weight', 'base_model.model.fc3.lora_B.weight']));
    expect(adapterFromPeft(p, layers)).toMatchObject({ name: 'default', r: 4, alpha: 8, targetModules: ['fc1'], init: 'peft', adam: null });
  });
});

// ---- the independent cross-check ----------------------------------------------------------------

const hasNumpy = (() => {
  try {
    execFileSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
if (!hasNumpy) console.warn('peft.test: python3 with numpy not found; the numpy cross-check is skipped');

describe.skipIf(!hasNumpy)('cross-check with numpy (scripts/peft_check.py)', () => {
  const run = promisify(execFile);
  const n = 300;
  const x = Float32Array.from(mnist.test.images.subarray(0, n * 784)); // raw 0..255, pixel scale 1
  const py = async (out: string, extra: string[] = []) => {
    const r = await run('python3', [join(import.meta.dirname, '..', 'scripts', 'peft_check.py'), join(out, 'model.safetensors'), out, join(out, 'inputs.safetensors'), ...extra], { maxBuffer: 64 << 20 });
    return JSON.parse(r.stdout) as { predictions: number[]; logits: number[][]; scale: number };
  };
  const compare = (label: string, js: Float32Array, p: { predictions: number[]; logits: number[][] }) => {
    let maxDiff = 0, maxLogit = 0, minMargin = Infinity, agree = 0;
    for (let i = 0; i < n; i++) {
      const row = js.subarray(i * 10, i * 10 + 10);
      let best = 0;
      for (let c = 1; c < 10; c++) if (row[c] > row[best]) best = c;
      if (best === p.predictions[i]) agree++;
      const sorted = [...p.logits[i]].sort((a, b) => b - a);
      minMargin = Math.min(minMargin, sorted[0] - sorted[1]);
      for (let c = 0; c < 10; c++) {
        maxDiff = Math.max(maxDiff, Math.abs(row[c] - p.logits[i][c]));
        maxLogit = Math.max(maxLogit, Math.abs(p.logits[i][c]));
      }
    }
    console.log(`${label}: ${agree}/${n} argmax agree; max |logit diff| = ${maxDiff.toExponential(3)} (max |logit| ${maxLogit.toFixed(1)}, relative ${(maxDiff / maxLogit).toExponential(2)}); smallest top-2 margin ${minMargin.toExponential(2)}`);
    return { maxDiff, maxLogit, agree };
  };

  it('numpy reads the exported files and reproduces the engine: same argmax, logits within 1e-5 relative', async () => {
    for (const name of ['digit8', 'default']) {
      const out = join(dir, `check-${name}`);
      await exportPeft(out, model, { adapter: name });
      await writeFile(join(out, 'inputs.safetensors'), serializeSafetensors({ x: { dtype: 'F32', shape: [n, 784], data: x } }));
      await model.setActiveAdapter(name);
      const js = await model.predict(x, n);
      const withAdapter = await py(out);
      const c = compare(`adapter ${name}`, js, withAdapter);
      expect(c.agree).toBe(n);
      // f32 products over ≤ 2000 terms against numpy's float64: relative to the largest logit.
      expect(c.maxDiff).toBeLessThanOrEqual(1e-5 * c.maxLogit);
      // The base alone (no adapter) matches the engine's base, and the adapter is not a no-op.
      await model.setActiveAdapter(null);
      const base = await py(out, ['--no-adapter']);
      const b = compare(`base (adapter ${name} off)`, await model.predict(x, n), base);
      expect(b.agree).toBe(n);
      expect(b.maxDiff).toBeLessThanOrEqual(1e-5 * b.maxLogit);
      let adapterEffect = 0;
      for (let i = 0; i < n; i++) for (let k = 0; k < 10; k++) adapterEffect = Math.max(adapterEffect, Math.abs(withAdapter.logits[i][k] - base.logits[i][k]));
      console.log(`adapter ${name}: max |Δlogit| from the adapter = ${adapterEffect.toExponential(3)}`);
      expect(adapterEffect).toBeGreaterThan(100 * c.maxDiff);
    }
    await model.setActiveAdapter('default');
  });

  it('the base model file alone (model.safetensors) decodes to the engine\'s weights', async () => {
    const b = decodeBaseModel(encodePeft(state).model);
    b.W.forEach((w, l) => expect(bits(w)).toBe(bits(state.W[l])));
  });
});
