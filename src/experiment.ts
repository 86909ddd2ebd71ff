// The reference experiment of DESIGN.md §1 as one function over the public API, so the CLI, the
// tests and (later) the demo run the same sequence: pre-train → evaluate → pick the worst class →
// loraize → fine-tune on that class → evaluate → check the frozen weights.

import { AbortError, OptionError, ShapeError, StateError } from './errors.js';
import { baseModelState, type AdapterStateExport, type BaseModel } from './io/checkpoint.js';
import { checkInt, checkNumber, REFERENCE_LAYERS, resolveLoraConfig, resolveMlpOptions } from './options.js';
import type { Mlp, TrainCallOptions } from './mlp.js';
import type { Session } from './session.js';
import type { LabeledImages } from './mnist.js';
import type { CurvePoint, EvalResult, LoraConfig, ModelStateExport, ParamCounts, TrainProgress, TrainResult } from './types.js';

export interface ExperimentSettings {
  seed: number;
  dropout: number;
  pixelScale: number;
  batchSize: number;
  /** Pre-training steps; default one epoch, ⌊train count / batch⌋ (468 for MNIST). */
  pretrainSteps: number | null;
  pretrainLr: number;
  finetuneSteps: number;
  finetuneLr: number;
  r: number;
  alpha: number;
  targetModules: string[] | null;
  loraInit: 'peft' | 'reference';
  /** Fine-tune this class instead of the worst one. */
  targetClass: number | null;
  evalBatchSize: number;
  /**
   * Hold out this fraction of the training images (stratified, seeded) as a validation split,
   * from pre-training and fine-tuning alike. With it the worst class is picked on the validation
   * split and fine-tuning records the validation curve; the test set only reports. 0 = none
   * (the reference: worst class picked on the test set).
   */
  validationFraction: number;
  /** Validation curve: evaluate every this many fine-tuning steps. */
  evalEvery: number;
  /** Fraction of each fine-tuning batch drawn from the other classes (0 = the reference). */
  replay: number;
  /** Stop fine-tuning when the validation criterion stops improving; restore the best adapter. */
  earlyStopping: { patience: number; tolerance: number; criterion: 'target' | 'total' } | null;
}

export const REFERENCE_SETTINGS: ExperimentSettings = {
  seed: 0, dropout: 0.3, pixelScale: 1, batchSize: 128, pretrainSteps: null, pretrainLr: 1e-3,
  finetuneSteps: 200, finetuneLr: 1e-5, r: 1, alpha: 0.5, targetModules: null, loraInit: 'reference',
  targetClass: null, evalBatchSize: 256, validationFraction: 0, evalEvery: 20, replay: 0, earlyStopping: null,
};

/**
 * Named settings. 'fix-worst' visibly fixes the worst class without costing the others: a 10 %
 * validation split, rank 4 (α 8), half of every batch replayed from the other classes, lr 1e-4 for
 * up to 400 steps, keeping the adapter with the fewest validation errors overall. Measured over
 * seeds in README.md.
 */
export const PRESETS: Record<string, Partial<ExperimentSettings>> = {
  reference: {},
  'fix-worst': {
    validationFraction: 0.1, r: 4, alpha: 8, finetuneLr: 1e-4, finetuneSteps: 400, replay: 0.5, evalEvery: 20,
    earlyStopping: { patience: 5, tolerance: 0, criterion: 'total' },
  },
};

/** Checks every setting against the model it will build; throws OptionError before any work. */
export function validateSettings(s: ExperimentSettings, layers = REFERENCE_LAYERS, numClasses = 10): void {
  resolveMlpOptions({ layers, dropout: s.dropout, seed: s.seed });
  checkNumber('pixel scale', s.pixelScale, { above: 0 });
  checkInt('batch size', s.batchSize, { min: 1, max: 65536 });
  if (s.pretrainSteps !== null) checkInt('pre-training steps', s.pretrainSteps, { min: 0 });
  checkNumber('pre-training learning rate', s.pretrainLr, { above: 0 });
  checkInt('fine-tuning steps', s.finetuneSteps, { min: 0 });
  checkNumber('fine-tuning learning rate', s.finetuneLr, { above: 0 });
  const lora: LoraConfig = { r: s.r, alpha: s.alpha, init: s.loraInit };
  if (s.targetModules) lora.targetModules = s.targetModules;
  resolveLoraConfig(lora, layers);
  if (s.targetClass !== null) checkInt('class', s.targetClass, { min: 0, max: numClasses - 1 });
  checkInt('evaluation batch size', s.evalBatchSize, { min: 1, max: 65536 });
  if (s.validationFraction !== 0) checkNumber('validation fraction', s.validationFraction, { above: 0, below: 1 });
  checkInt('evaluation interval', s.evalEvery, { min: 1 });
  checkNumber('replay fraction', s.replay, { min: 0, below: 1 });
  if (s.earlyStopping) {
    if (!s.validationFraction) throw new OptionError('early stopping watches a validation split: set a validation fraction too');
    checkInt('early-stopping patience', s.earlyStopping.patience, { min: 1 });
    checkInt('early-stopping tolerance', s.earlyStopping.tolerance, { min: 0 });
    if (!['target', 'total'].includes(s.earlyStopping.criterion)) throw new OptionError(`the early-stopping criterion must be target or total, got ${JSON.stringify(s.earlyStopping.criterion)}`);
  }
}

export type Phase = 'pretrain' | 'evalBefore' | 'finetune' | 'evalAfter';

/** Where a run stands: what a checkpoint records next to the model so the run can be resumed. */
export interface ExperimentRun {
  /** The settings, pretrainSteps resolved (0 when the base was loaded). */
  settings: ExperimentSettings & { pretrainSteps: number };
  /** The model step at which pre-training ends and fine-tuning begins. */
  pretrainEnd: number;
  /** Pre-training was skipped: the base came from a file. */
  loadedBase: boolean;
  /** Last loss of each phase so far (null: no step yet). */
  losses: { pretrainLast: number | null; finetuneLast: number | null };
}

export interface ExperimentHooks {
  /** Move the data's buffers into the engine instead of copying them (the CLI: less memory). */
  transferData?: boolean;
  /** steps: the phase's total; done: steps already taken before this run (resumed). */
  onPhase?(phase: Phase, info: { steps?: number; done?: number }): void;
  onProgress?(phase: Phase, p: TrainProgress): void;
  /** The test-set evaluation of each evaluation phase as soon as it is done (e.g. to draw it). */
  onEvaluated?(phase: 'evalBefore' | 'evalAfter', result: EvalResult, classes: { worstClass: number; targetClass: number }): void;
  signal?: AbortSignal;
  /** Skip pre-training and start from these base weights (dropout and seed from the settings). */
  base?: BaseModel;
  /** Fine-tune this adapter (e.g. imported from PEFT) instead of a fresh one. */
  adapter?: AdapterStateExport;
  /** Continue a run saved from onEnd: its model state and run record (`settings` must be run.settings). */
  resume?: { state: ModelStateExport; run: ExperimentRun };
  /**
   * Called with the model, before it is disposed, when the run finishes or is aborted (AbortError,
   * the model then holds the state after the last completed step): e.g. to save a checkpoint.
   */
  onEnd?(model: Mlp, run: ExperimentRun, how: 'finished' | 'aborted'): Promise<void>;
}

export interface ExperimentReport {
  settings: ExperimentSettings & { pretrainSteps: number };
  engine: Session['info'];
  data: { train: number; test: number; rowLen: number };
  accuracyBefore: number;
  accuracyAfter: number;
  mislabeledBefore: number[];
  mislabeledAfter: number[];
  perClass: number[];
  worstClass: number;
  targetClass: number;
  frozenHashBefore: string;
  frozenHashAfter: string;
  frozenUnchanged: boolean;
  params: ParamCounts;
  losses: { pretrainLast: number; finetuneLast: number };
  seconds: { pretrain: number; evalBefore: number; finetune: number; evalAfter: number; total: number };
  confusionBefore: number[][];
  confusionAfter: number[][];
  /** The model step a resumed run started from (null: not resumed). */
  resumedFromStep: number | null;
  /** Pre-training was skipped: the base model came from a file. */
  loadedBase: boolean;
  /** With a validation split: its size, errors before/after, the fine-tuning curve. */
  validation: {
    count: number;
    worstClassFrom: 'validation';
    mislabeledBefore: number[];
    mislabeledAfter: number[];
    curve: CurvePoint[];
    best: CurvePoint | null;
    stoppedEarly: boolean;
  } | null;
}

/**
 * Checks a run record read back from a file (JSON.parse output: anything) against the model it
 * belongs to; throws OptionError naming the first problem.
 */
export function checkExperimentRun(x: unknown, model: { layers: number[]; step: number; frozen: boolean }): ExperimentRun {
  const obj = (v: unknown, what: string, keys: string[]) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new OptionError(`${what} must be an object`);
    for (const k of Object.keys(v)) if (!keys.includes(k)) throw new OptionError(`${what} has an unknown field "${k}"`);
    for (const k of keys) if (!Object.hasOwn(v, k)) throw new OptionError(`${what} has no field "${k}"`);
    return v as Record<string, unknown>;
  };
  const r = obj(x, 'the run record', ['settings', 'pretrainEnd', 'loadedBase', 'losses']);
  const s = obj(r.settings, 'the run settings', [...Object.keys(REFERENCE_SETTINGS)]) as unknown as ExperimentSettings & { pretrainSteps: number };
  validateSettings(s, model.layers);
  checkInt('pre-training steps', s.pretrainSteps, { min: 0 });
  if (s.targetModules !== null && !Array.isArray(s.targetModules)) throw new OptionError('target modules must be a list or null');
  const pretrainEnd = checkInt('pretrainEnd', r.pretrainEnd, { min: 0 });
  if (typeof r.loadedBase !== 'boolean') throw new OptionError('loadedBase must be true or false');
  const losses = obj(r.losses, 'the run losses', ['pretrainLast', 'finetuneLast']);
  for (const k of ['pretrainLast', 'finetuneLast']) if (losses[k] !== null) checkNumber(`losses.${k}`, losses[k]);
  // The model must sit inside the run: before the end of pre-training, or inside fine-tuning.
  const end = pretrainEnd + s.finetuneSteps;
  if (!model.frozen && model.step > pretrainEnd) throw new OptionError(`the model is at step ${model.step}, past the end of pre-training (${pretrainEnd}), but has no adapter`);
  if (model.frozen && (model.step < pretrainEnd || model.step > end)) throw new OptionError(`the model is at step ${model.step}, outside fine-tuning (steps ${pretrainEnd}…${end})`);
  return r as unknown as ExperimentRun;
}

/** Index of the largest count (lowest index on ties): the worst class. */
export function worstClass(mislabeled: number[]): number {
  let best = 0;
  for (let c = 1; c < mislabeled.length; c++) if (mislabeled[c] > mislabeled[best]) best = c;
  return best;
}

export async function runExperiment(session: Session, data: { train: LabeledImages; test: LabeledImages },
  settings: ExperimentSettings, hooks: ExperimentHooks = {}): Promise<ExperimentReport> {
  const rowLen = data.train.rows * data.train.cols;
  const resume = hooks.resume;
  const layers = resume?.state.layers ?? hooks.base?.layers ?? [rowLen, ...REFERENCE_LAYERS.slice(1)];
  validateSettings(settings, layers);
  if (layers[0] !== rowLen) throw new ShapeError(`the model takes ${layers[0]} inputs but the images have ${rowLen} pixels`);
  const t0 = performance.now();
  const loadedBase = resume ? resume.run.loadedBase : !!hooks.base;
  const nTrain = data.train.count - (settings.validationFraction ? validationCount(data.train.labels, settings.validationFraction) : 0);
  const pretrainSteps = resume ? resume.run.settings.pretrainSteps
    : loadedBase ? 0 : settings.pretrainSteps ?? Math.floor(nTrain / settings.batchSize);
  if (pretrainSteps === 0 && settings.pretrainSteps === null && !loadedBase) {
    throw new OptionError(`batch size ${settings.batchSize} is larger than the ${data.train.count} training images (one epoch would be 0 steps)`);
  }
  const transfer = { transfer: !!hooks.transferData };
  const allTrain = await session.dataset({ images: data.train.images, labels: data.train.labels, rowLen, pixelScale: settings.pixelScale }, transfer);
  const test = await session.dataset({ images: data.test.images, labels: data.test.labels, rowLen, pixelScale: settings.pixelScale }, transfer);
  // The validation split is held out from both phases; the split is seeded, so a resumed run gets the same one.
  const split = settings.validationFraction ? await session.split(allTrain, settings.validationFraction, settings.seed) : null;
  const train = split?.train ?? allTrain, validation = split?.validation ?? null;
  // The model: resumed from a checkpoint, a loaded base, or a fresh one to pre-train.
  let model: Mlp = resume ? await session.importModel(resume.state)
    : hooks.base ? await session.importModel(baseModelState(hooks.base, { dropout: settings.dropout, seed: settings.seed }))
      : await session.mlp({ layers, dropout: settings.dropout, seed: settings.seed });
  const run: ExperimentRun = resume
    ? { ...resume.run, losses: { ...resume.run.losses } }
    : { settings: { ...settings, pretrainSteps }, pretrainEnd: pretrainSteps, loadedBase, losses: { pretrainLast: null, finetuneLast: null } };
  const startStep = resume ? resume.state.step : null;

  /** One training phase of `steps` steps; keeps the phase's last loss in `run`, also when aborted. */
  let ftResult: TrainResult | null = null;
  const trainPhase = async (phase: 'pretrain' | 'finetune', steps: number, opts: Omit<TrainCallOptions, 'steps'>) => {
    const key = phase === 'pretrain' ? 'pretrainLast' : 'finetuneLast';
    const keep = (r: TrainResult | undefined) => { if (r && r.losses.length) run.losses[key] = r.losses[r.losses.length - 1]; };
    try {
      const r = await model.train(train, {
        steps, batchSize: settings.batchSize, ...opts, onProgress: (p) => hooks.onProgress?.(phase, p), signal: hooks.signal,
      });
      keep(r);
      if (phase === 'finetune') ftResult = r;
      return r.seconds;
    } catch (e) {
      if (e instanceof AbortError) keep((e as AbortError & { result?: TrainResult }).result);
      throw e;
    }
  };

  try {
    let info = await model.info();
    const resumedInFinetune = info.frozen;
    if (resumedInFinetune && !info.lora) throw new StateError('the model to resume is frozen but has no active adapter to fine-tune');
    const pretrainLeft = resumedInFinetune ? 0 : run.pretrainEnd - info.step;
    if (pretrainLeft < 0) throw new StateError(`the model is at step ${info.step}, past the end of pre-training (step ${run.pretrainEnd})`);
    hooks.onPhase?.('pretrain', { steps: pretrainSteps, done: pretrainSteps - pretrainLeft });
    const preSeconds = pretrainLeft > 0 ? await trainPhase('pretrain', pretrainLeft, { lr: settings.pretrainLr }) : 0;

    hooks.onPhase?.('evalBefore', {});
    // A run resumed during fine-tuning evaluates its frozen base alone: the pre-trained model.
    if (resumedInFinetune) await model.setActiveAdapter(null);
    const before: EvalResult = await model.evaluate(test, { batchSize: settings.evalBatchSize });
    const valBefore = validation ? await model.evaluate(validation, { batchSize: settings.evalBatchSize }) : null;
    const hashBefore = await model.frozenHash(); // the pre-trained weights, before loraize touches the model
    if (resumedInFinetune) await model.setActiveAdapter(info.lora!.name);
    // The worst class: on the validation split when there is one (the test set then chooses nothing).
    const worst = worstClass((valBefore ?? before).mislabeled);
    const target = settings.targetClass ?? worst;
    hooks.onEvaluated?.('evalBefore', before, { worstClass: worst, targetClass: target });
    if (!resumedInFinetune) {
      if (hooks.adapter) {
        const adapted = await model.withAdapter(hooks.adapter);
        await model.dispose();
        model = adapted;
      } else {
        const lora: LoraConfig = { r: settings.r, alpha: settings.alpha, init: settings.loraInit };
        if (settings.targetModules) lora.targetModules = settings.targetModules;
        await model.loraize(lora);
      }
    }
    info = await model.info();
    const finetuneDone = info.step - run.pretrainEnd;
    const finetuneLeft = settings.finetuneSteps - finetuneDone;
    if (finetuneLeft < 0) throw new StateError(`the model is at step ${info.step}, past the end of fine-tuning (step ${run.pretrainEnd + settings.finetuneSteps})`);
    hooks.onPhase?.('finetune', { steps: settings.finetuneSteps, done: finetuneDone });
    const ftSeconds = finetuneLeft > 0 ? await trainPhase('finetune', finetuneLeft, {
      lr: settings.finetuneLr, classes: [target], replay: settings.replay || undefined,
      validation: validation ? { dataset: validation, every: settings.evalEvery, targetClass: target } : undefined,
      earlyStopping: settings.earlyStopping ?? undefined,
    }) : 0;

    hooks.onPhase?.('evalAfter', {});
    const after = await model.evaluate(test, { batchSize: settings.evalBatchSize });
    hooks.onEvaluated?.('evalAfter', after, { worstClass: worst, targetClass: target });
    const valAfter = validation ? await model.evaluate(validation, { batchSize: settings.evalBatchSize }) : null;
    const hashAfter = await model.frozenHash();
    const ft = ftResult as TrainResult | null;
    const report: ExperimentReport = {
      settings: { ...settings, pretrainSteps },
      engine: session.info,
      data: { train: data.train.count, test: data.test.count, rowLen },
      accuracyBefore: before.accuracy,
      accuracyAfter: after.accuracy,
      mislabeledBefore: before.mislabeled,
      mislabeledAfter: after.mislabeled,
      perClass: before.perClass,
      worstClass: worst,
      targetClass: target,
      frozenHashBefore: hashBefore,
      frozenHashAfter: hashAfter,
      frozenUnchanged: hashBefore === hashAfter,
      params: info.params,
      losses: { pretrainLast: run.losses.pretrainLast ?? NaN, finetuneLast: run.losses.finetuneLast ?? NaN },
      seconds: {
        pretrain: preSeconds, evalBefore: before.seconds, finetune: ftSeconds, evalAfter: after.seconds,
        total: (performance.now() - t0) / 1000,
      },
      confusionBefore: before.confusion,
      confusionAfter: after.confusion,
      resumedFromStep: startStep,
      loadedBase,
      validation: validation && valBefore && valAfter ? {
        count: validation.count, worstClassFrom: 'validation', mislabeledBefore: valBefore.mislabeled, mislabeledAfter: valAfter.mislabeled,
        curve: ft?.curve ?? [], best: ft?.best ?? null, stoppedEarly: ft?.stoppedEarly ?? false,
      } : null,
    };
    await hooks.onEnd?.(model, run, 'finished');
    return report;
  } catch (e) {
    if (e instanceof AbortError && hooks.onEnd) await hooks.onEnd(model, run, 'aborted');
    throw e;
  } finally {
    await model.dispose().catch(() => {});
    for (const d of [split?.train, split?.validation, allTrain, test]) if (d) await d.remove().catch(() => {});
  }
}

/** Size of the validation split stratifiedSplit takes: Σ over classes of round(fraction·count). */
function validationCount(labels: Uint8Array, fraction: number): number {
  const counts = new Map<number, number>();
  for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
  let n = 0;
  for (const c of counts.values()) n += Math.round(fraction * c);
  return n;
}
