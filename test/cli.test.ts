// The CLI's flag handling (in-process) and two real runs of the command (child processes): bad
// input gives one line and exit code 2 before any work; a short run writes a complete report.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseCli } from '../src/cli.js';
import { OptionError } from '../src/errors.js';

const run = promisify(execFile);
const cli = (args: string[]) =>
  run(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { cwd: join(import.meta.dirname, '..') })
    .then((r) => ({ code: 0, ...r }), (e) => ({ code: e.code as number, stdout: e.stdout as string, stderr: e.stderr as string }));

describe('CLI flags', () => {
  it('defaults are the reference experiment', () => {
    const c = parseCli([]);
    expect(c.settings).toMatchObject({ seed: 0, dropout: 0.3, pixelScale: 1, batchSize: 128, pretrainSteps: null, pretrainLr: 1e-3, finetuneSteps: 200, finetuneLr: 1e-5, r: 1, alpha: 0.5 });
    expect(parseCli(['-r', '4', '--alpha', '8', '--targets', 'fc1,fc3', '--class', '3', '--pixel-scale', '0.00392156862745098']).settings)
      .toMatchObject({ r: 4, alpha: 8, targetModules: ['fc1', 'fc3'], targetClass: 3, pixelScale: 1 / 255 });
  });

  it('--preset fix-worst sets the trade-off settings; explicit flags win', () => {
    expect(parseCli(['--preset', 'fix-worst']).settings).toMatchObject({
      validationFraction: 0.1, r: 4, alpha: 8, finetuneLr: 1e-4, finetuneSteps: 400, replay: 0.5, evalEvery: 20,
      earlyStopping: { patience: 5, tolerance: 0, criterion: 'total' },
    });
    expect(parseCli(['--preset', 'fix-worst', '--replay', '0', '--criterion', 'target', '--tolerance', '3']).settings)
      .toMatchObject({ replay: 0, earlyStopping: { patience: 5, tolerance: 3, criterion: 'target' } });
    expect(parseCli(['--validation', '0.2', '--early-stopping', '4']).settings.earlyStopping).toEqual({ patience: 4, tolerance: 0, criterion: 'target' });
  });

  const bad: [string[], string][] = [
    [['--preset', 'best'], '--preset must be one of reference, fix-worst, got "best"'],
    [['--early-stopping', '3'], 'early stopping watches a validation split: set a validation fraction too'],
    [['--plot', 'x.svg'], '--plot draws the validation curve: add --validation F (or --preset fix-worst)'],
    [['--validation', '1'], 'validation fraction must be > 0 and < 1, got 1'],
    [['--replay', '1'], 'replay fraction must be ≥ 0 and < 1, got 1'],
    [['--validation', '0.1', '--criterion', 'best'], '--criterion must be one of target, total, got "best"'],
    [['--bogus'], "Unknown option '--bogus'"],
    [['--lr', 'NaN'], '--lr expects a number, got "NaN"'],
    [['--lr', ''], '--lr expects a number, got ""'],
    [['--lr', '-1'], 'pre-training learning rate must be > 0, got -1'],
    [['--batch-size', '0'], 'batch size must be ≥ 1 and ≤ 65536, got 0'],
    [['--batch-size', '12.5'], '--batch-size expects an integer, got "12.5"'],
    [['--steps', '-3'], 'pre-training steps must be ≥ 0, got -3'],
    [['--rank', '11'], 'rank r = 11 is larger than layer fc3 (2000×10) allows; expected r ≤ 10'],
    [['--rank', '0'], 'r must be ≥ 1, got 0'],
    [['-r', '-2'], 'r must be ≥ 1, got -2'],
    [['--alpha', 'Infinity'], '--alpha expects a number, got "Infinity"'],
    [['--dropout', '1'], 'dropout must be ≥ 0 and < 1, got 1'],
    [['--class', '10'], 'class must be ≥ 0 and ≤ 9, got 10'],
    [['--targets', 'fc1,fc9'], 'unknown target module "fc9"; this model has fc1, fc2, fc3'],
    [['--lora-init', 'kaiming'], '--lora-init must be one of reference, peft, got "kaiming"'],
    [['--simd', 'avx'], '--simd must be one of auto, relaxed, simd, got "avx"'],
    [['--seed', '-1'], 'seed must be ≥ 0 and ≤ 4294967295, got -1'],
    [['--threads', '0'], 'threads must be ≥ 1 and ≤ 256, got 0'],
    [['--threads', 'many'], '--threads expects a number, got "many"'],
    [['extra'], "Unexpected argument 'extra'"],
  ];
  for (const [args, msg] of bad) {
    it(`rejects ${args.join(' ')}`, () => {
      expect(() => parseCli(args)).toThrow(OptionError);
      expect(() => parseCli(args)).toThrow(msg);
    });
  }
});

describe('the wasm-lora command', () => {
  it('bad flags: one line on stderr, exit code 2, no work done', async () => {
    for (const args of [['--batch-size', '0'], ['--nope'], ['--ft-lr', 'abc']]) {
      const r = await cli(args);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^wasm-lora: /);
    }
  });

  it('a bad --data folder: one line, non-zero exit', async () => {
    const r = await cli(['--data', '/nonexistent/folder']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('wasm-lora: cannot read the data folder /nonexistent/folder: ENOENT');
  });

  it('a short --preset fix-worst run reports the validation curve and writes the chart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wasm-lora-cli-'));
    try {
      const report = join(dir, 'run.json'), plot = join(dir, 'curve.svg');
      const r = await cli(['--preset', 'fix-worst', '--steps', '40', '--ft-steps', '30', '--eval-every', '10', '--seed', '1', '--report', report, '--plot', plot, '--no-progress']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/the worst class was chosen on it/);
      const j = JSON.parse(await readFile(report, 'utf8'));
      expect(j.validation.count).toBe(6000);
      expect(j.validation.curve.map((p: { step: number }) => p.step)).toEqual([0, 10, 20, 30]);
      expect(j.worstClass).toBe(j.validation.mislabeledBefore.indexOf(Math.max(...j.validation.mislabeledBefore)));
      expect(j.validation.best.step % 10).toBe(0);
      expect(await readFile(plot, 'utf8')).toMatch(/^<svg /);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a short run prints the tables and writes the --report JSON', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wasm-lora-cli-'));
    try {
      const report = join(dir, 'run.json');
      const r = await cli(['--steps', '30', '--ft-steps', '10', '--seed', '3', '--report', report, '--no-progress']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/test accuracy after pre-training: \d+\.\d\d %/);
      expect(r.stdout).toMatch(/parameters: 2,804,000 frozen, 6,794 trainable LoRA \(0\.24 % of the base model\)/);
      expect(r.stdout).toMatch(/frozen weights: identical/);
      const j = JSON.parse(await readFile(report, 'utf8'));
      for (const k of ['accuracyBefore', 'accuracyAfter', 'mislabeledBefore', 'mislabeledAfter', 'worstClass', 'frozenHashBefore', 'frozenHashAfter', 'params', 'seconds', 'settings']) {
        expect(j).toHaveProperty(k);
      }
      expect(j.mislabeledBefore).toHaveLength(10);
      expect(j.accuracyBefore).toBeGreaterThan(0);
      expect(j.accuracyBefore).toBeLessThanOrEqual(1);
      expect(j.frozenHashAfter).toBe(j.frozenHashBefore);
      expect(j.params).toEqual({ frozen: 2_804_000, trainable: 6_794, total: 2_810_794 });
      expect(Object.keys(j.seconds)).toEqual(['pretrain', 'evalBefore', 'finetune', 'evalAfter', 'total']);
      expect(j.settings).toMatchObject({ pretrainSteps: 30, finetuneSteps: 10, seed: 3, r: 1, alpha: 0.5 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
