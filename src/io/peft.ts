// Hugging Face PEFT interchange (platform-neutral: strings and bytes in and out).
//
// Export writes what `PeftModel.from_pretrained(model, DIR)` reads, plus the base model:
//   adapter_config.json          LoraConfig fields (sorted keys, like PEFT's save_pretrained)
//   adapter_model.safetensors    base_model.model.<module>.lora_A.weight (r, in) and
//                                base_model.model.<module>.lora_B.weight (out, r), F32,
//                                metadata {"format": "pt"}
//   model.safetensors            fc<l>.weight (out, in) (checkpoint.ts: encodeBaseModel)
// Our A (r×in) and B (out×r) already have PEFT's orientation, so the factors are written as they
// are; only the base weights are transposed. ΔW = (lora_alpha / r)·B·A either way.
//
// Import reads adapter_config.json + adapter_model.safetensors back into an adapter for a model of
// known layer widths. Everything the engine cannot reproduce exactly is refused with a PeftError
// naming the field (DoRA, rsLoRA, fan_in_fan_out, biases, per-module rank/alpha patterns,
// modules_to_save, layers_to_transform); lora_dropout is accepted and ignored (it only acts while
// training in PyTorch). Tensors must be exactly the expected set, float, with exact shapes.

import { DataFormatError } from '../errors.js';
import { moduleNames } from '../options.js';
import type { ModelStateExport } from '../types.js';
import { clip, encodeBaseModel, takeTensors, type AdapterStateExport, type CheckpointErrorCode } from './checkpoint.js';
import { parseSafetensors, serializeSafetensors, type Safetensors, type TensorInput } from './safetensors.js';

export type PeftErrorCode =
  | 'bad-config' // adapter_config.json not JSON, not an object, or a field of the wrong type/range
  | 'unsupported-config' // a valid PEFT setting this engine cannot reproduce (named in the message)
  | 'unknown-module' // a target module the model does not have
  | 'no-adapter' // export: the model has no such adapter
  | CheckpointErrorCode; // tensor problems: missing/unexpected tensor, dtype, shape, value

export class PeftError extends DataFormatError {
  override name = 'PeftError';
  constructor(readonly code: PeftErrorCode, message: string) {
    super(message);
  }
}

export const PEFT_PREFIX = 'base_model.model.';
export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_MODEL = 'adapter_model.safetensors';
export const BASE_MODEL = 'model.safetensors';

const keyA = (m: string) => `${PEFT_PREFIX}${m}.lora_A.weight`;
const keyB = (m: string) => `${PEFT_PREFIX}${m}.lora_B.weight`;

export interface PeftFiles {
  /** adapter_config.json as written (PEFT's field names). */
  config: Record<string, unknown>;
  configJson: string;
  /** adapter_model.safetensors */
  adapter: Uint8Array;
  /** model.safetensors: the frozen base in PyTorch's layout. */
  model: Uint8Array;
}

/**
 * The three PEFT files for one adapter of a model state (default: the active adapter, or the only
 * one). `baseModelNameOrPath` fills base_model_name_or_path (default null).
 */
export function encodePeft(state: ModelStateExport, opts: { adapter?: string; baseModelNameOrPath?: string | null } = {}): PeftFiles {
  const name = opts.adapter ?? state.active ?? (state.adapters.length === 1 ? state.adapters[0].name : undefined);
  const a = state.adapters.find((x) => x.name === name);
  if (!a) {
    const have = state.adapters.map((x) => x.name).join(', ') || 'none';
    throw new PeftError('no-adapter', name === undefined
      ? `the model has several adapters and none is active (${have}); name the one to export`
      : `the model has no adapter named ${clip(name)} (adapters: ${have})`);
  }
  const mods = moduleNames(state.layers.length - 1);
  const tensors: Record<string, TensorInput> = {};
  mods.forEach((m, l) => {
    if (!a.A[l] || !a.B[l]) return;
    tensors[keyA(m)] = { dtype: 'F32', shape: [a.r, state.layers[l]], data: a.A[l]! };
    tensors[keyB(m)] = { dtype: 'F32', shape: [state.layers[l + 1], a.r], data: a.B[l]! };
  });
  const config: Record<string, unknown> = {
    alpha_pattern: {},
    base_model_name_or_path: opts.baseModelNameOrPath ?? null,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    // true = PEFT's own init (A uniform, B zero); our 'reference' init is not one of PEFT's.
    init_lora_weights: a.init === 'peft',
    layers_pattern: null,
    layers_to_transform: null,
    lora_alpha: a.alpha,
    lora_dropout: 0,
    modules_to_save: null,
    peft_type: 'LORA',
    r: a.r,
    rank_pattern: {},
    revision: null,
    target_modules: mods.filter((m) => a.targetModules.includes(m)),
    task_type: null,
    use_dora: false,
    use_rslora: false,
  };
  // PEFT writes floats like 0.0 with a decimal point; JSON.stringify drops it. Same value either way.
  const configJson = `${JSON.stringify(config, null, 2).replace('"lora_dropout": 0,', '"lora_dropout": 0.0,')}\n`;
  return {
    config, configJson,
    adapter: serializeSafetensors(tensors, { format: 'pt' }),
    model: encodeBaseModel({ layers: state.layers, W: state.W, dropout: state.dropout, seed: state.seed }),
  };
}

/** A parsed, config-checked PEFT adapter whose tensors are not yet matched to a model. */
export interface PeftAdapter {
  r: number;
  alpha: number;
  targetModules: string[];
  init: 'peft' | 'reference';
  tensors: Safetensors;
  files: { config: string; adapter: string };
}

/**
 * Checks adapter_config.json (text) and parses adapter_model.safetensors (bytes). Tensor names and
 * shapes are checked against a model by `adapterFromPeft`. `files` name the two in messages.
 */
export function parsePeftAdapter(configText: string, adapterBytes: Uint8Array,
  files = { config: ADAPTER_CONFIG, adapter: ADAPTER_MODEL }): PeftAdapter {
  const cf = files.config;
  let c: unknown;
  try {
    c = JSON.parse(configText);
  } catch (e) {
    throw new PeftError('bad-config', `${cf}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (c === null || typeof c !== 'object' || Array.isArray(c)) throw new PeftError('bad-config', `${cf}: expected a JSON object`);
  const cfg = c as Record<string, unknown>;
  const has = (k: string) => Object.hasOwn(cfg, k) && cfg[k] !== null;
  const show = (v: unknown) => { const t = JSON.stringify(v) ?? String(v); return t.length > 60 ? `${t.slice(0, 60)}…` : t; };

  if (cfg.peft_type !== 'LORA') throw new PeftError(has('peft_type') ? 'unsupported-config' : 'bad-config', `${cf}: peft_type is ${show(cfg.peft_type)}; expected "LORA"`);
  const r = cfg.r;
  if (typeof r !== 'number' || !Number.isSafeInteger(r) || r < 1) throw new PeftError('bad-config', `${cf}: r is ${show(r)}; expected a positive integer`);
  const alpha = cfg.lora_alpha;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha <= 0) throw new PeftError('bad-config', `${cf}: lora_alpha is ${show(alpha)}; expected a positive number`);
  let targets = cfg.target_modules;
  // PEFT reads a string as a regular expression over module names; a plain module name matches only itself.
  if (typeof targets === 'string') {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(targets)) throw new PeftError('unsupported-config', `${cf}: target_modules is the pattern ${show(targets)}; expected a list of module names (fc1, fc2, …)`);
    targets = [targets];
  }
  if (!Array.isArray(targets) || targets.length === 0 || targets.some((t) => typeof t !== 'string')) {
    throw new PeftError('bad-config', `${cf}: target_modules is ${show(cfg.target_modules)}; expected a non-empty list of module names`);
  }
  if (new Set(targets).size !== targets.length) throw new PeftError('bad-config', `${cf}: target_modules lists a module twice: ${show(targets)}`);

  // Settings that change the math: refused unless at their plain-LoRA value.
  const plain: [string, (v: unknown) => boolean, string][] = [
    ['fan_in_fan_out', (v) => v === false, 'false (weights stored (out, in))'],
    ['bias', (v) => v === 'none', '"none" (the MLP has no biases)'],
    ['use_dora', (v) => v === false, 'false (DoRA is not supported)'],
    ['use_rslora', (v) => v === false, 'false (rsLoRA scales by α/√r, not α/r)'],
    ['modules_to_save', (v) => Array.isArray(v) && v.length === 0, 'null'],
    ['layers_to_transform', () => false, 'null'],
    ['layers_pattern', (v) => Array.isArray(v) && v.length === 0, 'null'],
    ['rank_pattern', (v) => isEmptyObject(v), '{} (one rank for every module)'],
    ['alpha_pattern', (v) => isEmptyObject(v), '{} (one alpha for every module)'],
  ];
  for (const [k, ok, want] of plain) {
    if (has(k) && !ok(cfg[k])) throw new PeftError('unsupported-config', `${cf}: ${k} is ${show(cfg[k])}; expected ${want}`);
  }
  if (has('lora_dropout') && !(typeof cfg.lora_dropout === 'number' && cfg.lora_dropout >= 0 && cfg.lora_dropout < 1)) {
    throw new PeftError('bad-config', `${cf}: lora_dropout is ${show(cfg.lora_dropout)}; expected a number in [0, 1)`);
  }
  return {
    r, alpha, targetModules: targets as string[],
    // Only informative once the factors exist: false marks a non-PEFT init such as ours.
    init: cfg.init_lora_weights === false ? 'reference' : 'peft',
    tensors: parseSafetensors(adapterBytes, files.adapter),
    files,
  };
}

function isEmptyObject(v: unknown): boolean {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0;
}

/** The adapter for a model with these layer widths: every tensor present with its exact shape. */
export function adapterFromPeft(p: PeftAdapter, layers: number[], name = 'default'): AdapterStateExport {
  const mods = moduleNames(layers.length - 1);
  for (const t of p.targetModules) {
    if (!mods.includes(t)) throw new PeftError('unknown-module', `${p.files.config}: target module ${clip(t)} is not in this model; it has ${mods.join(', ')}`);
  }
  for (const m of p.targetModules) {
    const l = mods.indexOf(m);
    const limit = Math.min(layers[l], layers[l + 1]);
    if (p.r > limit) throw new PeftError('bad-config', `${p.files.config}: r = ${p.r} is larger than layer ${m} (${layers[l]}×${layers[l + 1]}) allows; expected r ≤ ${limit}`);
  }
  const expected = new Map<string, number[]>();
  mods.forEach((m, l) => {
    if (!p.targetModules.includes(m)) return;
    expected.set(keyA(m), [p.r, layers[l]]);
    expected.set(keyB(m), [layers[l + 1], p.r]);
  });
  const hint = (n: string) => (/\.lora_[AB]\.[^.]+\.weight$/.test(n)
    ? ' (an adapter name inside the key: PEFT\'s save_pretrained leaves it out)'
    : /^fc\d+\.weight$/.test(n) ? ' (base model weights, not an adapter)' : '');
  const t = takeTensors(p.tensors, expected, p.files.adapter, (c, msg) => new PeftError(c, msg), hint);
  return {
    name, r: p.r, alpha: p.alpha, init: p.init, targetModules: mods.filter((m) => p.targetModules.includes(m)),
    A: mods.map((m) => t.get(keyA(m)) ?? null),
    B: mods.map((m) => t.get(keyB(m)) ?? null),
    adam: null,
  };
}

/** parsePeftAdapter + adapterFromPeft. */
export function decodePeftAdapter(configText: string, adapterBytes: Uint8Array, layers: number[],
  opts: { name?: string; files?: { config: string; adapter: string } } = {}): AdapterStateExport {
  return adapterFromPeft(parsePeftAdapter(configText, adapterBytes, opts.files), layers, opts.name);
}
