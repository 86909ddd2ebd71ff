// Model files as safetensors (platform-neutral: bytes in, bytes out; Node file helpers are in
// files-node.ts). Two kinds, both documented in README "Files: save, load, resume, PEFT":
//
//  • checkpoint (metadata format "wasm-lora-checkpoint", version "1"): a model's WHOLE state in our
//    own layout, exact to the bit — base weights, every adapter, every Adam moment, the step count
//    (with the seed, the position of every random stream). Tensors, all F32:
//      base.fc<l>.W                   [in, out]   (the engine's row-major x·W layout)
//      base.fc<l>.W.adam_m / .adam_v  [in, out]   (only while the base trains)
//      adapter.<name>.fc<l>.lora_A    [r, in]     (PEFT's A)
//      adapter.<name>.fc<l>.lora_B    [out, r]    (PEFT's B)
//      adapter.<name>.fc<l>.lora_A.adam_m / .adam_v, same for lora_B (once the adapter trained)
//    Metadata (strings; JSON text where not a plain string): format, version, layers "[784,…]",
//    dropout, seed, step, frozen "true"/"false", base_adam_t (Adam's t, or "null"), adapters
//    (JSON list of {name, r, alpha, init, target_modules, adam_t}), active (a name, "" = none);
//    callers may add keys of their own (the CLI adds "experiment" and "data").
//
//  • base model ("model.safetensors", PyTorch's layout so torch/PEFT load it as is): tensors
//    fc<l>.weight [out, in] F32 (our W transposed), metadata {"format": "pt"} plus "layers",
//    "dropout", "seed" (informative; a file without them, e.g. from PyTorch, loads too).
//
// Reading trusts nothing: the safetensors layer validates the container, this one checks that the
// tensors are exactly the expected set with the expected dtype and shape, that every number is
// finite (and every Adam v ≥ 0), and that the metadata describes a model the engine accepts; each
// problem is a CheckpointError with its own code, naming the file and what was expected.

import { DataFormatError, WasmLoraError } from '../errors.js';
import { checkInt, checkNumber, moduleNames, resolveLoraConfig, resolveMlpOptions } from '../options.js';
import type { AdamStateExport, ModelStateExport } from '../types.js';
import { parseSafetensors, serializeSafetensors, type Safetensors, type TensorInput, type TensorView } from './safetensors.js';

export type CheckpointErrorCode =
  | 'wrong-kind' // a valid safetensors file of another kind (PEFT adapter, checkpoint vs model, …)
  | 'unsupported-version'
  | 'bad-metadata' // a metadata value missing, not JSON, of the wrong type or out of range
  | 'missing-tensor'
  | 'unexpected-tensor'
  | 'bad-dtype'
  | 'bad-shape'
  | 'bad-value'; // NaN/∞ in a tensor, or a negative Adam second moment

export class CheckpointError extends DataFormatError {
  override name = 'CheckpointError';
  constructor(readonly code: CheckpointErrorCode, message: string) {
    super(message);
  }
}

export type AdapterStateExport = ModelStateExport['adapters'][number];

export const CHECKPOINT_FORMAT = 'wasm-lora-checkpoint';
export const CHECKPOINT_VERSION = '1';
/** Metadata keys the checkpoint itself uses; extra keys must be other names. */
const RESERVED = ['format', 'version', 'layers', 'dropout', 'seed', 'step', 'frozen', 'base_adam_t', 'adapters', 'active'];
const FLOAT_DTYPES = new Set(['F32', 'F64', 'F16', 'BF16']);

// ---- helpers shared with peft.ts ------------------------------------------------------------------

/** rows×cols row-major → cols×rows row-major (exact: values are only moved). */
export function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = a[i * cols + j];
  return out;
}

const f32 = (shape: number[], data: Float32Array): TensorInput => ({ dtype: 'F32', shape, data });

/** Parses a metadata value holding JSON; `what` names it in the error. */
function metaJson(meta: Record<string, string>, key: string, file: string): unknown {
  const text = meta[key];
  if (text === undefined) throw new CheckpointError('bad-metadata', `${file}: metadata has no "${key}"; expected one in a ${CHECKPOINT_FORMAT} file`);
  try {
    return JSON.parse(text);
  } catch {
    throw new CheckpointError('bad-metadata', `${file}: metadata "${key}" is ${clip(text)}, not JSON`);
  }
}

export function clip(s: string, n = 60): string {
  return JSON.stringify(s.length > n ? `${s.slice(0, n)}…` : s);
}

/** Runs an option check, turning its OptionError/ShapeError into a CheckpointError naming the file. */
function asFileError<T>(file: string, where: string, f: () => T, code: CheckpointErrorCode = 'bad-metadata'): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof WasmLoraError && !(e instanceof CheckpointError)) throw new CheckpointError(code, `${file}: ${where}: ${e.message}`);
    throw e;
  }
}

/**
 * Takes the expected tensors out of a parsed file: every expected name must be there as a float
 * tensor of exactly `shape`, and nothing else may be. Returns F32 copies (aligned), checked finite.
 * `describe` gives an error a hint for an unexpected name (e.g. what kind of file it looks like).
 */
export function takeTensors(st: Safetensors, expected: Map<string, number[]>, file: string,
  make: (code: CheckpointErrorCode, message: string) => Error = (c, m) => new CheckpointError(c, m),
  describe: (name: string) => string = () => ''): Map<string, Float32Array> {
  for (const name of st.tensors.keys()) {
    if (!expected.has(name)) {
      const more = expected.size > 6 ? `, … (${expected.size} in all)` : '';
      throw make('unexpected-tensor', `${file}: unexpected tensor ${clip(name)}${describe(name)}; expected only ${[...expected.keys()].slice(0, 6).join(', ')}${more}`);
    }
  }
  const out = new Map<string, Float32Array>();
  for (const [name, shape] of expected) {
    const t: TensorView | undefined = st.tensors.get(name);
    if (!t) throw make('missing-tensor', `${file}: tensor ${name} is missing; expected F32 of shape [${shape.join(', ')}]`);
    if (!FLOAT_DTYPES.has(t.dtype)) throw make('bad-dtype', `${file}: tensor ${name} is ${t.dtype}; expected F32 (or F16, BF16, F64)`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw make('bad-shape', `${file}: tensor ${name} has shape [${t.shape.slice(0, 8).join(', ')}]; expected [${shape.join(', ')}]`);
    }
    const v = t.toFloat32();
    for (let i = 0; i < v.length; i++) {
      if (!Number.isFinite(v[i])) throw make('bad-value', `${file}: tensor ${name} holds ${v[i]} at index ${i}; expected finite numbers`);
    }
    out.set(name, v);
  }
  return out;
}

// ---- checkpoints ----------------------------------------------------------------------------------

const baseName = (l: number) => `base.fc${l + 1}.W`;
const adapterName = (a: string, l: number, f: 'A' | 'B') => `adapter.${a}.fc${l + 1}.lora_${f}`;

/** Parameter tensors of a state in Adam order, with names and shapes: base W's, then per adapter A, B of each adapted layer. */
function layout(x: { layers: number[]; adapters: { name: string; r: number; A: unknown[]; B: unknown[] }[] }) {
  const L = x.layers.length - 1;
  const base = Array.from({ length: L }, (_, l) => ({ name: baseName(l), shape: [x.layers[l], x.layers[l + 1]] }));
  const adapters = x.adapters.map((a) => {
    const params: { name: string; shape: number[]; l: number; f: 'A' | 'B' }[] = [];
    for (let l = 0; l < L; l++) {
      if (!a.A[l]) continue;
      params.push({ name: adapterName(a.name, l, 'A'), shape: [a.r, x.layers[l]], l, f: 'A' });
      params.push({ name: adapterName(a.name, l, 'B'), shape: [x.layers[l + 1], a.r], l, f: 'B' });
    }
    return params;
  });
  return { base, adapters };
}

/**
 * A checkpoint file's bytes: the whole state (Mlp.exportState()) plus optional extra metadata
 * (string values; must not reuse the checkpoint's own keys).
 */
export function encodeCheckpoint(state: ModelStateExport, extra: Record<string, string> = {}): Uint8Array {
  for (const k of Object.keys(extra)) {
    if (RESERVED.includes(k)) throw new CheckpointError('bad-metadata', `extra checkpoint metadata may not use the reserved key "${k}"`);
  }
  const tensors: Record<string, TensorInput> = {};
  const { base, adapters } = layout(state);
  base.forEach((p, l) => {
    tensors[p.name] = f32(p.shape, state.W[l]);
    if (state.adam) {
      tensors[`${p.name}.adam_m`] = f32(p.shape, state.adam.m[l]);
      tensors[`${p.name}.adam_v`] = f32(p.shape, state.adam.v[l]);
    }
  });
  state.adapters.forEach((a, k) => {
    adapters[k].forEach((p, i) => {
      tensors[p.name] = f32(p.shape, (p.f === 'A' ? a.A : a.B)[p.l]!);
      if (a.adam) {
        tensors[`${p.name}.adam_m`] = f32(p.shape, a.adam.m[i]);
        tensors[`${p.name}.adam_v`] = f32(p.shape, a.adam.v[i]);
      }
    });
  });
  const metadata: Record<string, string> = {
    ...extra,
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    layers: JSON.stringify(state.layers),
    dropout: JSON.stringify(state.dropout),
    seed: JSON.stringify(state.seed),
    step: JSON.stringify(state.step),
    frozen: JSON.stringify(state.frozen),
    base_adam_t: JSON.stringify(state.adam ? state.adam.t : null),
    adapters: JSON.stringify(state.adapters.map((a) => ({
      name: a.name, r: a.r, alpha: a.alpha, init: a.init, target_modules: a.targetModules, adam_t: a.adam ? a.adam.t : null,
    }))),
    active: state.active ?? '',
  };
  return serializeSafetensors(tensors, metadata);
}

export interface DecodedCheckpoint {
  state: ModelStateExport;
  /** All metadata, including keys added by the writer (e.g. the CLI's "experiment"). */
  metadata: Record<string, string>;
}

/** Reads and validates a checkpoint file (see the top of this file); `file` prefixes every message. */
export function decodeCheckpoint(bytes: Uint8Array, file = 'checkpoint'): DecodedCheckpoint {
  const st = parseSafetensors(bytes, file);
  return checkpointFromSafetensors(st, file);
}

function checkpointFromSafetensors(st: Safetensors, file: string): DecodedCheckpoint {
  const meta = st.metadata;
  if (meta.format !== CHECKPOINT_FORMAT) {
    throw new CheckpointError('wrong-kind', `${file}: not a wasm-lora checkpoint (metadata format ${meta.format === undefined ? 'missing' : clip(meta.format)}; expected "${CHECKPOINT_FORMAT}")${kindHint(st)}`);
  }
  if (meta.version !== CHECKPOINT_VERSION) {
    throw new CheckpointError('unsupported-version', `${file}: checkpoint version ${meta.version === undefined ? 'missing' : clip(meta.version)}; this wasm-lora reads version ${CHECKPOINT_VERSION}`);
  }
  const json = (k: string) => metaJson(meta, k, file);
  const o = asFileError(file, 'metadata', () => resolveMlpOptions({ layers: json('layers') as number[], dropout: json('dropout') as number, seed: json('seed') as number }));
  const layers = o.layers;
  const step = asFileError(file, 'metadata', () => checkInt('step', json('step'), { min: 0 }));
  const frozen = json('frozen');
  if (typeof frozen !== 'boolean') throw new CheckpointError('bad-metadata', `${file}: metadata "frozen" is ${clip(meta.frozen)}; expected true or false`);
  const adamT = (v: unknown, what: string) => (v === null ? null : asFileError(file, 'metadata', () => checkInt(what, v, { min: 0 })));
  const baseAdamT = adamT(json('base_adam_t'), 'base_adam_t');

  const list = json('adapters');
  if (!Array.isArray(list)) throw new CheckpointError('bad-metadata', `${file}: metadata "adapters" is not a JSON list`);
  const names = new Set<string>();
  const specs = list.map((a: unknown, k) => {
    if (a === null || typeof a !== 'object' || Array.isArray(a)) throw new CheckpointError('bad-metadata', `${file}: metadata "adapters"[${k}] is not an object`);
    const r = a as Record<string, unknown>;
    for (const key of Object.keys(r)) {
      if (!['name', 'r', 'alpha', 'init', 'target_modules', 'adam_t'].includes(key)) throw new CheckpointError('bad-metadata', `${file}: metadata "adapters"[${k}] has unknown field ${clip(key)}`);
    }
    if (r.name === undefined || r.r === undefined || r.alpha === undefined || r.init === undefined || r.target_modules === undefined) {
      throw new CheckpointError('bad-metadata', `${file}: metadata "adapters"[${k}] needs name, r, alpha, init and target_modules`);
    }
    const c = asFileError(file, `adapter ${k}`, () => resolveLoraConfig({
      name: r.name as string, r: r.r as number, alpha: r.alpha as number, init: r.init as 'peft', targetModules: r.target_modules as string[],
    }, layers));
    if (names.has(c.name)) throw new CheckpointError('bad-metadata', `${file}: adapter "${c.name}" is listed twice`);
    names.add(c.name);
    return { ...c, adamT: adamT(r.adam_t ?? null, `adapter ${c.name} adam_t`) };
  });
  const active = meta.active ?? '';
  if (active !== '' && !names.has(active)) throw new CheckpointError('bad-metadata', `${file}: the active adapter ${clip(active)} is not among the adapters (${[...names].join(', ') || 'none'})`);
  if (specs.length > 0 && !frozen) throw new CheckpointError('bad-metadata', `${file}: the model has adapters but its base is not frozen; expected "frozen": "true"`);

  // The exact tensor set these metadata imply.
  const L = layers.length - 1;
  const mods = moduleNames(L);
  const shapes = specs.map((c) => ({ name: c.name, r: c.r, A: mods.map((m) => c.targetModules.includes(m)), B: [] }));
  const { base, adapters } = layout({ layers, adapters: shapes });
  const expected = new Map<string, number[]>();
  const add = (name: string, shape: number[], adam: boolean) => {
    if (expected.has(name)) throw new CheckpointError('bad-metadata', `${file}: two tensors would be named ${name}; rename an adapter`);
    expected.set(name, shape);
    if (adam) { expected.set(`${name}.adam_m`, shape); expected.set(`${name}.adam_v`, shape); }
  };
  base.forEach((p) => add(p.name, p.shape, baseAdamT !== null));
  adapters.forEach((ps, k) => ps.forEach((p) => add(p.name, p.shape, specs[k].adamT !== null)));
  const t = takeTensors(st, expected, file);
  for (const [name, v] of t) {
    if (!name.endsWith('.adam_v')) continue;
    const i = v.findIndex((x) => x < 0);
    if (i >= 0) throw new CheckpointError('bad-value', `${file}: tensor ${name} holds ${v[i]} at index ${i}; Adam's second moments are ≥ 0`);
  }

  const adam = (t0: number | null, params: string[]): AdamStateExport | null =>
    (t0 === null ? null : { t: t0, m: params.map((p) => t.get(`${p}.adam_m`)!), v: params.map((p) => t.get(`${p}.adam_v`)!) });
  const state: ModelStateExport = {
    layers, dropout: o.dropout, seed: o.seed, step, frozen,
    W: base.map((p) => t.get(p.name)!),
    adam: adam(baseAdamT, base.map((p) => p.name)),
    active: active === '' ? null : active,
    adapters: specs.map((c, k) => ({
      name: c.name, r: c.r, alpha: c.alpha, init: c.init, targetModules: c.targetModules,
      A: mods.map((_, l) => (c.targetModules.includes(mods[l]) ? t.get(adapterName(c.name, l, 'A'))! : null)),
      B: mods.map((_, l) => (c.targetModules.includes(mods[l]) ? t.get(adapterName(c.name, l, 'B'))! : null)),
      adam: adam(c.adamT, adapters[k].map((p) => p.name)),
    })),
  };
  return { state, metadata: { ...meta } };
}

// ---- base models (model.safetensors, PyTorch layout) ----------------------------------------------

/** What a base-model file holds: the weights in our layout and what its metadata says. */
export interface BaseModel {
  layers: number[];
  /** W[l]: in×out row-major (transposed back from the file's (out, in)). */
  W: Float32Array[];
  /** From the metadata when the file has them (files written here do). */
  dropout?: number;
  seed?: number;
}

/** model.safetensors bytes: fc<l>.weight (out, in) F32, metadata format "pt" + layers, dropout, seed. */
export function encodeBaseModel(m: { layers: number[]; W: Float32Array[]; dropout?: number; seed?: number }): Uint8Array {
  const tensors: Record<string, TensorInput> = {};
  m.W.forEach((w, l) => {
    const nIn = m.layers[l], nOut = m.layers[l + 1];
    tensors[`fc${l + 1}.weight`] = f32([nOut, nIn], transpose(w, nIn, nOut));
  });
  const metadata: Record<string, string> = { format: 'pt', layers: JSON.stringify(m.layers) };
  if (m.dropout !== undefined) metadata.dropout = JSON.stringify(m.dropout);
  if (m.seed !== undefined) metadata.seed = JSON.stringify(m.seed);
  return serializeSafetensors(tensors, metadata);
}

/** A hint for a file that is valid safetensors but another kind than expected. */
function kindHint(st: Safetensors): string {
  const names = [...st.tensors.keys()];
  if (st.metadata.format === CHECKPOINT_FORMAT) return '; it is a wasm-lora checkpoint';
  if (names.some((n) => n.startsWith('base_model.model.'))) return '; it looks like a PEFT adapter (adapter_model.safetensors): import it as an adapter';
  if (names.some((n) => /^fc\d+\.weight$/.test(n))) return '; it looks like a base model (model.safetensors)';
  return '';
}

/** Reads a model.safetensors: fc1.weight … fcL.weight, chained shapes, finite floats, nothing else. */
export function decodeBaseModel(bytes: Uint8Array, file = 'model.safetensors'): BaseModel {
  return baseFromSafetensors(parseSafetensors(bytes, file), file);
}

function baseFromSafetensors(st: Safetensors, file: string): BaseModel {
  if (st.metadata.format === CHECKPOINT_FORMAT) {
    throw new CheckpointError('wrong-kind', `${file}: a wasm-lora checkpoint, not a base model (model.safetensors); read it as a checkpoint`);
  }
  // Layer count from the fcN.weight names present; every one of fc1…fcL must then be there.
  let L = 0;
  for (const name of st.tensors.keys()) {
    const m = /^fc([1-9][0-9]{0,3})\.weight$/.exec(name);
    if (m) L = Math.max(L, Number(m[1]));
  }
  if (L === 0) {
    throw new CheckpointError('wrong-kind', `${file}: no tensor fc1.weight; expected a base model with fc1.weight … fcL.weight of shape (out, in)${kindHint(st)}`);
  }
  const layers: number[] = [];
  for (let l = 0; l < L; l++) {
    const t = st.tensors.get(`fc${l + 1}.weight`);
    if (!t) throw new CheckpointError('missing-tensor', `${file}: tensor fc${l + 1}.weight is missing; expected fc1.weight … fc${L}.weight`);
    if (t.shape.length !== 2) throw new CheckpointError('bad-shape', `${file}: tensor fc${l + 1}.weight has ${t.shape.length} dimensions; expected 2, (out, in)`);
    const [nOut, nIn] = t.shape;
    if (l === 0) layers.push(nIn);
    else if (nIn !== layers[l]) throw new CheckpointError('bad-shape', `${file}: tensor fc${l + 1}.weight has shape [${nOut}, ${nIn}]; expected ${layers[l]} inputs, the outputs of fc${l}`);
    layers.push(nOut);
  }
  asFileError(file, 'layer widths', () => resolveMlpOptions({ layers }), 'bad-shape');
  const hint = (name: string) => (/^fc\d+\.bias$/.test(name) ? ' (wasm-lora\'s MLP has no biases)' : '');
  const expected = new Map(layers.slice(0, -1).map((nIn, l) => [`fc${l + 1}.weight`, [layers[l + 1], nIn]]));
  const t = takeTensors(st, expected, file, undefined, hint);
  const out: BaseModel = { layers, W: layers.slice(0, -1).map((nIn, l) => transpose(t.get(`fc${l + 1}.weight`)!, layers[l + 1], nIn)) };
  // Informative metadata: checked when present, so a file cannot contradict itself.
  const meta = st.metadata;
  if (meta.layers !== undefined && meta.layers !== JSON.stringify(layers)) {
    throw new CheckpointError('bad-metadata', `${file}: metadata layers ${clip(meta.layers)} disagree with the tensors' shapes ${JSON.stringify(layers)}`);
  }
  if (meta.dropout !== undefined) out.dropout = asFileError(file, 'metadata', () => checkNumber('dropout', parseNumber(meta.dropout), { min: 0, below: 1 }));
  if (meta.seed !== undefined) out.seed = asFileError(file, 'metadata', () => checkInt('seed', parseNumber(meta.seed), { min: 0, max: 2 ** 32 - 1 }));
  return out;
}

function parseNumber(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

/** A fresh (unfrozen, step 0, no optimizer state) model state from a base model. */
export function baseModelState(b: BaseModel, opts: { dropout?: number; seed?: number } = {}): ModelStateExport {
  return {
    layers: b.layers.slice(), dropout: opts.dropout ?? b.dropout ?? 0.3, seed: opts.seed ?? b.seed ?? 0, step: 0,
    frozen: false, W: b.W, adam: null, active: null, adapters: [],
  };
}

export type ModelFile = { kind: 'checkpoint'; state: ModelStateExport; metadata: Record<string, string> }
  | { kind: 'model'; base: BaseModel; metadata: Record<string, string> };

/** Reads either kind, told apart by the metadata format ("wasm-lora-checkpoint" or not). */
export function decodeModelFile(bytes: Uint8Array, file = 'model file'): ModelFile {
  const st = parseSafetensors(bytes, file);
  if (st.metadata.format === CHECKPOINT_FORMAT) return { kind: 'checkpoint', ...checkpointFromSafetensors(st, file) };
  return { kind: 'model', base: baseFromSafetensors(st, file), metadata: { ...st.metadata } };
}
