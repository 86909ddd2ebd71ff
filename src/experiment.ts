// The reference experiment of DESIGN.md §1 as one function over the public API, so the CLI, the
// tests and (later) the demo run the same sequence: pre-train → evaluate → pick the worst class →
// loraize → fine-tune on that class → evaluate → check the frozen weights.

import { OptionError } from './errors.js';
import { checkInt, checkNumber, REFERENCE_LAYERS, resolveLoraConfig, resolveMlpOptions } from './options.js';
import type { Session } from './session.js';
import type { LabeledImages } from './mnist.js';
import type { EvalResult, LoraConfig, ParamCounts, TrainProgress } from './types.js';

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
}

export const REFERENCE_SETTINGS: ExperimentSettings = {
  seed: 0, dropout: 0.3, pixelScale: 1, batchSize: 128, pretrainSteps: null, pretrainLr: 1e-3,
  finetuneSteps: 200, finetuneLr: 1e-5, r: 1, alpha: 0.5, targetModules: null, loraInit: 'reference',
  targetClass: null, evalBatchSize: 1000,
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
}

export type Phase = 'pretrain' | 'evalBefore' | 'finetune' | 'evalAfter';

export interface ExperimentHooks {
  onPhase?(phase: Phase, info: { steps?: number }): void;
  onProgress?(phase: Phase, p: TrainProgress): void;
  signal?: AbortSignal;
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
  const layers = [rowLen, ...REFERENCE_LAYERS.slice(1)];
  validateSettings(settings, layers);
  const t0 = performance.now();
  const pretrainSteps = settings.pretrainSteps ?? Math.floor(data.train.count / settings.batchSize);
  if (pretrainSteps === 0 && settings.pretrainSteps === null) {
    throw new OptionError(`batch size ${settings.batchSize} is larger than the ${data.train.count} training images (one epoch would be 0 steps)`);
  }
  const train = await session.dataset({ images: data.train.images, labels: data.train.labels, rowLen, pixelScale: settings.pixelScale });
  const test = await session.dataset({ images: data.test.images, labels: data.test.labels, rowLen, pixelScale: settings.pixelScale });
  const model = await session.mlp({ layers, dropout: settings.dropout, seed: settings.seed });
  try {
    hooks.onPhase?.('pretrain', { steps: pretrainSteps });
    const pre = await model.train(train, {
      steps: pretrainSteps, batchSize: settings.batchSize, lr: settings.pretrainLr,
      onProgress: (p) => hooks.onProgress?.('pretrain', p), signal: hooks.signal,
    });
    hooks.onPhase?.('evalBefore', {});
    const before: EvalResult = await model.evaluate(test, { batchSize: settings.evalBatchSize });
    const worst = worstClass(before.mislabeled);
    const target = settings.targetClass ?? worst;
    const lora: LoraConfig = { r: settings.r, alpha: settings.alpha, init: settings.loraInit };
    if (settings.targetModules) lora.targetModules = settings.targetModules;
    const hashBefore = await model.frozenHash(); // the pre-trained weights, before loraize touches the model
    const info = await model.loraize(lora);
    hooks.onPhase?.('finetune', { steps: settings.finetuneSteps });
    const ft = await model.train(train, {
      steps: settings.finetuneSteps, batchSize: settings.batchSize, lr: settings.finetuneLr, classes: [target],
      onProgress: (p) => hooks.onProgress?.('finetune', p), signal: hooks.signal,
    });
    hooks.onPhase?.('evalAfter', {});
    const after = await model.evaluate(test, { batchSize: settings.evalBatchSize });
    const hashAfter = await model.frozenHash();
    return {
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
      losses: { pretrainLast: pre.losses[pre.losses.length - 1] ?? NaN, finetuneLast: ft.losses[ft.losses.length - 1] ?? NaN },
      seconds: {
        pretrain: pre.seconds, evalBefore: before.seconds, finetune: ft.seconds, evalAfter: after.seconds,
        total: (performance.now() - t0) / 1000,
      },
      confusionBefore: before.confusion,
      confusionAfter: after.confusion,
    };
  } finally {
    await model.dispose().catch(() => {});
    await train.remove().catch(() => {});
    await test.remove().catch(() => {});
  }
}
