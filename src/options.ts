// Validation of every user-facing option, shared by the API, the engine and the CLI. Values are
// checked before any work starts; errors name the option, the value and what was expected.

import { OptionError } from './errors.js';
import type { LoraConfig, MlpOptions, TrainOptions } from './types.js';

interface Range {
  min?: number;
  max?: number;
  /** min is exclusive */
  above?: number;
  below?: number;
}

function describe(r: Range): string {
  const parts: string[] = [];
  if (r.min !== undefined) parts.push(`≥ ${r.min}`);
  if (r.above !== undefined) parts.push(`> ${r.above}`);
  if (r.max !== undefined) parts.push(`≤ ${r.max}`);
  if (r.below !== undefined) parts.push(`< ${r.below}`);
  return parts.join(' and ');
}

export function checkNumber(name: string, v: unknown, r: Range = {}): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new OptionError(`${name} must be a finite number${Object.keys(r).length ? ` ${describe(r)}` : ''}, got ${fmt(v)}`);
  }
  if ((r.min !== undefined && v < r.min) || (r.max !== undefined && v > r.max)
    || (r.above !== undefined && v <= r.above) || (r.below !== undefined && v >= r.below)) {
    throw new OptionError(`${name} must be ${describe(r)}, got ${v}`);
  }
  return v;
}

export function checkInt(name: string, v: unknown, r: Range = {}): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
    throw new OptionError(`${name} must be an integer${Object.keys(r).length ? ` ${describe(r)}` : ''}, got ${fmt(v)}`);
  }
  return checkNumber(name, v, r);
}

function fmt(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') return String(v);
  if (v === undefined || v === null) return String(v);
  return typeof v;
}

function checkKeys(what: string, o: object, allowed: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw new OptionError(`unknown ${what} option "${k}"; expected one of: ${allowed.join(', ')}`);
  }
}

export const REFERENCE_LAYERS = [784, 1000, 2000, 10];

export function resolveMlpOptions(o: MlpOptions = {}): Required<MlpOptions> {
  checkKeys('model', o, ['layers', 'dropout', 'seed']);
  const layers = o.layers ?? REFERENCE_LAYERS;
  if (!Array.isArray(layers) || layers.length < 2) {
    throw new OptionError(`layers must list at least an input and an output width, e.g. [784, 1000, 2000, 10]; got ${JSON.stringify(layers)}`);
  }
  layers.forEach((n, i) => checkInt(`layers[${i}]`, n, { min: 1, max: 1 << 16 }));
  if (layers[layers.length - 1] < 2) throw new OptionError(`the output layer needs at least 2 classes, got ${layers[layers.length - 1]}`);
  return {
    layers: layers.slice(),
    dropout: checkNumber('dropout', o.dropout ?? 0.3, { min: 0, below: 1 }),
    seed: checkInt('seed', o.seed ?? 0, { min: 0, max: 2 ** 32 - 1 }),
  };
}

export function moduleNames(layerCount: number): string[] {
  return Array.from({ length: layerCount }, (_, l) => `fc${l + 1}`);
}

export function resolveLoraConfig(o: LoraConfig, layers: number[]): Required<LoraConfig> {
  checkKeys('LoRA', o, ['name', 'r', 'alpha', 'targetModules', 'init']);
  const name = o.name ?? 'default';
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(name)) {
    throw new OptionError(`adapter name must be 1–64 characters of A–Z, a–z, 0–9, _ . -; got ${JSON.stringify(name)}`);
  }
  const names = moduleNames(layers.length - 1);
  const targetModules = o.targetModules ?? names;
  if (!Array.isArray(targetModules) || targetModules.length === 0) {
    throw new OptionError(`targetModules must be a non-empty list of module names (${names.join(', ')})`);
  }
  for (const t of targetModules) {
    if (!names.includes(t)) throw new OptionError(`unknown target module "${t}"; this model has ${names.join(', ')}`);
  }
  if (new Set(targetModules).size !== targetModules.length) throw new OptionError(`targetModules lists a module twice: ${targetModules.join(', ')}`);
  const r = checkInt('r', o.r ?? 1, { min: 1 });
  for (const t of targetModules) {
    const l = names.indexOf(t);
    const limit = Math.min(layers[l], layers[l + 1]);
    if (r > limit) throw new OptionError(`rank r = ${r} is larger than layer ${t} (${layers[l]}×${layers[l + 1]}) allows; expected r ≤ ${limit}`);
  }
  const init = o.init ?? 'peft';
  if (init !== 'peft' && init !== 'reference') throw new OptionError(`LoRA init must be "peft" or "reference", got ${JSON.stringify(init)}`);
  return { name, r, alpha: checkNumber('alpha', o.alpha ?? 0.5, { above: 0 }), targetModules: targetModules.slice(), init };
}

export type ResolvedTrainOptions = Required<Omit<TrainOptions, 'classes' | 'validation' | 'earlyStopping'>> & {
  classes: number[] | null;
  validation: { dataset: number; every: number; targetClass: number | null } | null;
  earlyStopping: { patience: number; tolerance: number; criterion: 'target' | 'total' } | null;
};

export function resolveTrainOptions(o: TrainOptions, numClasses: number, lora: boolean): ResolvedTrainOptions {
  checkKeys('train', o, ['steps', 'batchSize', 'lr', 'beta1', 'beta2', 'eps', 'classes', 'progressEvery', 'replay', 'validation', 'earlyStopping']);
  let classes: number[] | null = null;
  if (o.classes !== undefined) {
    if (!Array.isArray(o.classes) || o.classes.length === 0) throw new OptionError(`classes must be a non-empty list of class labels 0..${numClasses - 1}`);
    classes = o.classes.map((c, i) => checkInt(`classes[${i}]`, c, { min: 0, max: numClasses - 1 }));
  }
  return {
    steps: checkInt('steps', o.steps, { min: 0 }),
    batchSize: checkInt('batchSize', o.batchSize ?? 128, { min: 1, max: 65536 }),
    lr: checkNumber('lr', o.lr ?? (lora ? 1e-5 : 1e-3), { above: 0 }),
    beta1: checkNumber('beta1', o.beta1 ?? 0.9, { min: 0, below: 1 }),
    beta2: checkNumber('beta2', o.beta2 ?? 0.999, { min: 0, below: 1 }),
    eps: checkNumber('eps', o.eps ?? 1e-8, { above: 0 }),
    classes,
    progressEvery: checkInt('progressEvery', o.progressEvery ?? 10, { min: 1 }),
    replay: resolveReplay(o.replay, classes),
    validation: resolveValidation(o.validation, classes, numClasses),
    earlyStopping: resolveEarlyStopping(o.earlyStopping, o.validation),
  };
}

function resolveReplay(replay: unknown, classes: number[] | null): number {
  if (replay === undefined || replay === 0) return 0;
  const f = checkNumber('replay', replay, { min: 0, below: 1 });
  if (!classes) throw new OptionError('replay mixes in classes outside `classes`; it needs `classes` to be set');
  return f;
}

function resolveValidation(v: TrainOptions['validation'], classes: number[] | null, numClasses: number): ResolvedTrainOptions['validation'] {
  if (v === undefined) return null;
  if (typeof v !== 'object' || v === null) throw new OptionError('validation must be { dataset, every, targetClass? }');
  checkKeys('validation', v, ['dataset', 'every', 'targetClass']);
  const targetClass = v.targetClass ?? (classes && classes.length === 1 ? classes[0] : null);
  if (targetClass !== null) checkInt('validation.targetClass', targetClass, { min: 0, max: numClasses - 1 });
  return { dataset: checkInt('validation.dataset', v.dataset, { min: 1 }), every: checkInt('validation.every', v.every, { min: 1 }), targetClass };
}

function resolveEarlyStopping(e: TrainOptions['earlyStopping'], validation: TrainOptions['validation']): ResolvedTrainOptions['earlyStopping'] {
  if (e === undefined) return null;
  if (typeof e !== 'object' || e === null) throw new OptionError('earlyStopping must be { patience, tolerance? }');
  checkKeys('earlyStopping', e, ['patience', 'tolerance', 'criterion']);
  const criterion = e.criterion ?? 'target';
  if (criterion !== 'target' && criterion !== 'total') throw new OptionError(`earlyStopping.criterion must be "target" or "total", got ${JSON.stringify(criterion)}`);
  if (!validation) throw new OptionError('earlyStopping needs a validation dataset to watch (validation: { dataset, every })');
  return { patience: checkInt('earlyStopping.patience', e.patience, { min: 1 }), tolerance: checkInt('earlyStopping.tolerance', e.tolerance ?? 0, { min: 0 }), criterion };
}
