// The demo page's wiring. At load: MNIST (shipped gzipped with the page, inflated with
// DecompressionStream) and the engine worker (Session.start: wasm kernels, one thread per core when
// the page is cross-origin isolated). A run is runExperiment — the same sequence as `npm start` —
// with live progress, loss and trade-off charts; when it finishes, its models are kept for the
// drawing pad and the downloads. All compute happens in the engine's workers; this thread only
// draws.
import {
  AbortError, REFERENCE_SETTINGS, Session, parseImagesAndLabels, parsePeftAdapter, parseSafetensors, runExperiment,
  validateSettings, type CurvePoint, type Dataset, type ExperimentReport, type ExperimentSettings, type LabeledImages,
  type Mlp, type PeftFiles, type Phase,
} from '../src/index.js';
import { PRESETS } from '../src/experiment.js';
import { barChart, confusionRows, lineChart } from './charts.js';
import { drawingPad, paintPreview } from './draw.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const input = (id: string) => $<HTMLInputElement>(id);
const esc = (s: string) => s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));
const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
const int = (n: number) => n.toLocaleString('en-US');
const signed = (n: number) => (n > 0 ? `+${n}` : n < 0 ? `−${-n}` : '0');
const sum = (a: number[]) => a.reduce((s, x) => s + x, 0);

const MNIST = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];
const PHASE_NAMES: Record<Phase, string> = {
  pretrain: 'pre-training', evalBefore: 'evaluation', finetune: 'LoRA fine-tuning', evalAfter: 'evaluation after fine-tuning',
};
const COLORS = { pretrain: '#1d4ed8', finetune: '#c2410c', before: '#64748b', after: '#c2410c' };

let session: Session | null = null;
let mnist: { train: LabeledImages; test: LabeledImages } | null = null;
let testSet: Dataset | null = null;
/** The models the drawing pad and the downloads use: the frozen base alone, and base + adapter. */
let models: { base: Mlp; adapted: Mlp | null; label: string; peft?: Promise<PeftFiles> } | null = null;
let controller: AbortController | null = null;
let report: ExperimentReport | null = null;

function setStatus(state: 'loading' | 'ready' | 'running' | 'done' | 'stopped' | 'error', text: string): void {
  const el = $('status');
  el.dataset.state = state;
  el.textContent = text;
}

// ---- data and engine -------------------------------------------------------------------------

async function loadMnist(): Promise<{ train: LabeledImages; test: LabeledImages }> {
  const responses = await Promise.all(MNIST.map(async (name) => {
    const r = await fetch(new URL(`mnist/${name}.gz.bin`, document.baseURI));
    if (!r.ok || !r.body) throw new Error(`could not load mnist/${name}.gz.bin: HTTP ${r.status}`);
    return r;
  }));
  const total = sum(responses.map((r) => Number(r.headers.get('content-length') ?? 0)));
  let got = 0, shown = 0;
  const bytes = await Promise.all(responses.map(async (r) => {
    const counted = r.body!.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, out) {
        got += chunk.byteLength;
        if (performance.now() - shown > 100) {
          shown = performance.now();
          setStatus('loading', `Loading MNIST (shipped with this page): ${(got / 1e6).toFixed(1)}${total ? ` of ${(total / 1e6).toFixed(1)}` : ''} MB…`);
        }
        out.enqueue(chunk);
      },
    }));
    return new Uint8Array(await new Response(counted.pipeThrough(new DecompressionStream('gzip') as ReadableWritablePair<Uint8Array, Uint8Array>)).arrayBuffer());
  }));
  return {
    train: parseImagesAndLabels(bytes[0], MNIST[0], bytes[1], MNIST[1]),
    test: parseImagesAndLabels(bytes[2], MNIST[2], bytes[3], MNIST[3]),
  };
}

function showEngine(s: Session, data: { train: LabeledImages; test: LabeledImages }): void {
  const facts: [string, string][] = [
    ['backend', s.info.backend],
    ['kernels', s.info.kernels],
    ['threads', String(s.info.threads)],
    ['cross-origin isolated', globalThis.crossOriginIsolated ? 'yes' : 'no'],
    ['data', `MNIST, ${int(data.train.count)} train / ${int(data.test.count)} test images`],
  ];
  if (s.info.note) facts.push(['note', s.info.note]);
  $('engine').innerHTML = facts.map(([k, v]) => `<div><dt>${esc(k)}</dt><dd>${esc(v)}</dd></div>`).join('');
}

// ---- settings --------------------------------------------------------------------------------

function setNumber(id: string, v: number): void {
  input(id).value = String(v);
}

function applyPreset(name: string): void {
  const s: ExperimentSettings = { ...REFERENCE_SETTINGS, ...PRESETS[name] };
  setNumber('rank', s.r);
  setNumber('alpha', s.alpha);
  setNumber('ft-lr', s.finetuneLr);
  setNumber('ft-steps', s.finetuneSteps);
  setNumber('validation', s.validationFraction);
  setNumber('eval-every', s.evalEvery);
  setNumber('replay', s.replay);
  input('early').checked = !!s.earlyStopping;
  setNumber('patience', s.earlyStopping?.patience ?? 5);
  $<HTMLSelectElement>('criterion').value = s.earlyStopping?.criterion ?? 'total';
  syncEarly();
}

function syncEarly(): void {
  const on = input('early').checked;
  input('patience').disabled = !on;
  $<HTMLSelectElement>('criterion').disabled = !on;
}

/** The form's settings on top of the reference's; throws OptionError naming the bad one. */
function readSettings(quick: boolean): ExperimentSettings {
  const n = (id: string) => input(id).valueAsNumber;
  const steps = input('pretrain-steps').value.trim();
  const s: ExperimentSettings = {
    ...REFERENCE_SETTINGS,
    seed: n('seed'),
    pretrainSteps: quick ? 100 : steps === '' ? null : n('pretrain-steps'),
    pretrainLr: n('pretrain-lr'),
    r: n('rank'),
    alpha: n('alpha'),
    finetuneLr: n('ft-lr'),
    finetuneSteps: n('ft-steps'),
    validationFraction: n('validation'),
    evalEvery: n('eval-every'),
    replay: n('replay'),
    earlyStopping: input('early').checked
      ? { patience: n('patience'), tolerance: 0, criterion: $<HTMLSelectElement>('criterion').value as 'target' | 'total' }
      : null,
  };
  validateSettings(s);
  return s;
}

// ---- the run ---------------------------------------------------------------------------------

function setRunning(running: boolean): void {
  for (const f of document.querySelectorAll<HTMLFieldSetElement>('#settings fieldset')) f.disabled = running;
  $<HTMLButtonElement>('run').disabled = running || !session;
  $<HTMLButtonElement>('quick').disabled = running || !session;
  $<HTMLButtonElement>('stop').disabled = !running;
  input('load').disabled = running || !session;
  refreshModelButtons();
}

function refreshModelButtons(): void {
  const idle = !controller;
  $<HTMLButtonElement>('dl-model').disabled = !(idle && models);
  $<HTMLButtonElement>('dl-adapter').disabled = !(idle && models?.adapted);
  $<HTMLButtonElement>('dl-config').disabled = !(idle && models?.adapted);
}

function markPhase(current: Phase | null, done: Set<Phase>): void {
  for (const li of document.querySelectorAll<HTMLLIElement>('#phases li')) {
    const p = li.dataset.phase as Phase;
    li.className = done.has(p) ? 'done' : p === current ? 'active' : '';
  }
}

async function dropModels(): Promise<void> {
  const old = models;
  models = null;
  void predictNow();
  refreshModelButtons();
  if (old) await Promise.all([old.base.dispose(), old.adapted?.dispose()].map((p) => p?.catch(() => {})));
}

/** Copies of the finished run's model: base alone and base + adapter (runExperiment disposes its own). */
async function keepModels(model: Mlp): Promise<{ base: Mlp; adapted: Mlp }> {
  const state = await model.exportState();
  const adapted = await session!.importModel(state);
  const base = await session!.importModel({ ...state, active: null });
  return { base, adapted };
}

function renderLoss(losses: Record<'pretrain' | 'finetune', [number, number][]>, xMax: number): void {
  $('loss-chart').innerHTML = lineChart([
    { name: 'pre-training (all classes)', color: COLORS.pretrain, points: losses.pretrain },
    { name: 'fine-tuning (worst class)', color: COLORS.finetune, points: losses.finetune },
  ], { title: 'training loss (mean over 10 steps)', xLabel: 'training step', yLabel: 'loss', xMax });
}

function renderCurve(curve: CurvePoint[], target: number | null, xMax: number, best: CurvePoint | null = null): void {
  const who = target === null ? 'worst class' : `class ${target}`;
  $('curve-chart').innerHTML = lineChart([
    { name: who, color: '#c2410c', points: curve.map((p) => [p.step, p.targetErrors]) },
    { name: 'other classes', color: '#1d4ed8', dash: '6 3', points: curve.map((p) => [p.step, p.otherErrors]) },
  ], {
    title: `mislabeled validation images during fine-tuning: ${who} vs the others`,
    xLabel: 'fine-tuning step', yLabel: 'mislabeled validation images', xMax,
    marker: best ? { x: best.step, label: `kept: step ${best.step}` } : null,
  });
}

function resetResults(): void {
  report = null;
  for (const id of ['loss-chart', 'class-chart', 'class-table', 'confusion', 'curve-chart']) $(id).innerHTML = '';
  $('eval-summary').textContent = 'Evaluated when pre-training ends; shown with the results after fine-tuning.';
  $('curve-note').textContent = '';
  $('frozen').innerHTML = '<p class="muted">Hashed before the adapters are added and after fine-tuning.</p>';
}

async function run(quick: boolean): Promise<void> {
  if (!session || !mnist || controller) return;
  $('form-error').textContent = '';
  let settings: ExperimentSettings;
  try {
    settings = readSettings(quick);
  } catch (e) {
    $('form-error').textContent = message(e);
    return;
  }
  controller = new AbortController();
  setRunning(true);
  setStatus('running', `Running: ${quick ? 'quick run, ' : ''}${settings.validationFraction ? 'with a validation split' : 'reference settings'}…`);
  await dropModels();
  resetResults();
  const losses: Record<'pretrain' | 'finetune', [number, number][]> = { pretrain: [], finetune: [] };
  const curve: CurvePoint[] = [];
  const done = new Set<Phase>();
  let phase: Phase = 'pretrain', preSteps = 0;
  const ftSteps = settings.finetuneSteps;
  const withCurve = settings.validationFraction > 0;
  $('curve-note').textContent = withCurve
    ? `Evaluated on the validation split every ${settings.evalEvery} steps.`
    : 'No validation split in this run (validation fraction 0, like the reference), so no trade-off curve: choose the fix-worst preset or a validation fraction above 0.';
  const progress = $<HTMLProgressElement>('progress');
  let kept: { base: Mlp; adapted: Mlp } | null = null;
  let liveTarget: number | null = null;
  try {
    const r = await runExperiment(session, mnist, settings, {
      signal: controller.signal,
      onPhase: (ph, info) => {
        if (phase !== ph) done.add(phase);
        phase = ph;
        markPhase(ph, done);
        if (ph === 'pretrain') preSteps = info.steps ?? 0;
        $('phase-label').textContent = ph === 'evalBefore' || ph === 'evalAfter'
          ? `${PHASE_NAMES[ph]}: ${int(mnist!.test.count)} test images${withCurve ? ' and the validation split' : ''}…`
          : `${PHASE_NAMES[ph]}: ${int(info.steps ?? 0)} steps`;
        if (ph === 'evalBefore' || ph === 'evalAfter') progress.removeAttribute('value');
        else progress.value = 0;
        if (ph === 'pretrain' || ph === 'finetune') renderLoss(losses, preSteps + ftSteps);
        if (ph === 'finetune' && withCurve) renderCurve(curve, liveTarget, ftSteps);
      },
      onEvaluated: (ph, ev, classes) => {
        if (ph !== 'evalBefore') return;
        // The pre-trained model's errors right away; the full before/after view replaces it at the end.
        liveTarget = classes.targetClass;
        const t = classes.targetClass;
        $('eval-summary').innerHTML = `Test accuracy <strong>${pct(ev.accuracy)}</strong> after pre-training. Worst class: <strong class="worst-label">${classes.worstClass}</strong> (${ev.mislabeled[classes.worstClass]} of ${int(ev.perClass[classes.worstClass])} mislabeled${withCurve ? '; chosen on the validation split' : ''}); fine-tuning class ${t}…`;
        $('class-chart').innerHTML = barChart(Array.from({ length: ev.mislabeled.length }, (_, c) => String(c)), [
          { name: 'before fine-tuning', color: COLORS.before, values: ev.mislabeled },
        ], { title: 'mislabeled test images per class after pre-training', xLabel: 'class (true digit)', yLabel: 'mislabeled test images', highlight: t, highlightLabel: `class ${t}: to fine-tune` });
        $('confusion').innerHTML = confusionRows(ev.confusion, t);
      },
      onProgress: (ph, p) => {
        const x = ph === 'pretrain' ? p.step : preSteps + p.step;
        losses[ph === 'pretrain' ? 'pretrain' : 'finetune'].push([x, p.loss]);
        progress.value = p.step / p.steps;
        const eta = (p.steps - p.step) / Math.max(p.stepsPerSecond, 1e-9);
        $('progress-text').textContent = `step ${int(p.step)} of ${int(p.steps)} · loss ${p.loss.toFixed(4)} · ${p.stepsPerSecond.toFixed(1)} steps/s · ${eta.toFixed(0)} s left`;
        renderLoss(losses, preSteps + ftSteps);
        if (p.validation) {
          curve.push(p.validation);
          renderCurve(curve, liveTarget, ftSteps);
        }
      },
      onEnd: async (model, _run, how) => {
        if (how === 'finished') kept = await keepModels(model);
      },
    });
    done.add(phase);
    markPhase(null, done);
    progress.value = 1;
    report = r;
    const k = kept as { base: Mlp; adapted: Mlp } | null;
    if (k) models = { ...k, label: `LoRA r ${r.settings.r}, α ${r.settings.alpha}, class ${r.targetClass}` };
    showReport(r);
    const sec = r.seconds;
    $('phase-label').textContent = 'Finished.';
    $('progress-text').textContent = `pre-train ${sec.pretrain.toFixed(1)} s · evaluate ${sec.evalBefore.toFixed(1)} s · fine-tune ${sec.finetune.toFixed(1)} s · evaluate ${sec.evalAfter.toFixed(1)} s · total ${sec.total.toFixed(1)} s`;
    setStatus('done', `Done in ${sec.total.toFixed(1)} s: class ${r.targetClass} ${r.mislabeledBefore[r.targetClass]} → ${r.mislabeledAfter[r.targetClass]} mislabeled test images; frozen weights ${r.frozenUnchanged ? 'unchanged' : 'CHANGED'}. Draw a digit below.`);
  } catch (e) {
    if (e instanceof AbortError) {
      $('phase-label').textContent = `Stopped during ${PHASE_NAMES[phase]}.`;
      setStatus('stopped', `Stopped: ${e.message}. Run again when ready.`);
    } else {
      $('phase-label').textContent = `Failed during ${PHASE_NAMES[phase]}.`;
      setStatus('error', `The run failed: ${message(e)}`);
    }
    markPhase(null, done);
  } finally {
    controller = null;
    setRunning(false);
    void predictNow();
  }
}

function showReport(r: ExperimentReport): void {
  const t = r.targetClass, before = r.mislabeledBefore, after = r.mislabeledAfter;
  const others = (a: number[]) => sum(a) - a[t];
  const rel = before[t] ? ((after[t] - before[t]) / before[t]) * 100 : 0;
  $('eval-summary').innerHTML = [
    `Test accuracy <strong>${pct(r.accuracyBefore)}</strong> after pre-training → <strong>${pct(r.accuracyAfter)}</strong> after fine-tuning.`,
    `Worst class: <strong class="worst-label">${r.worstClass}</strong> (${before[r.worstClass]} of ${int(r.perClass[r.worstClass])} mislabeled${r.validation ? '; chosen on the validation split' : ''}).`,
    `Class ${t}: ${before[t]} → ${after[t]} mislabeled (${rel > 0 ? '+' : rel < 0 ? '−' : ''}${Math.abs(rel).toFixed(1)} %); the other classes: ${others(before)} → ${others(after)}.`,
  ].join(' ');
  $('class-chart').innerHTML = barChart(Array.from({ length: before.length }, (_, c) => String(c)), [
    { name: 'before fine-tuning', color: COLORS.before, values: before },
    { name: 'after', color: COLORS.after, values: after },
  ], { title: 'mislabeled test images per class, before and after fine-tuning', xLabel: 'class (true digit)', yLabel: 'mislabeled test images', highlight: t, highlightLabel: `class ${t}: fine-tuned` });
  const cell = (c: number, v: string) => `<td${c === t ? ' class="worst"' : ''}>${v}</td>`;
  const row = (name: string, vals: string[], total: string) => `<tr><th scope="row">${name}</th>${vals.map((v, c) => cell(c, v)).join('')}<td>${total}</td></tr>`;
  $('class-table').innerHTML = `<thead><tr><th scope="col">class</th>${before.map((_, c) => `<th scope="col"${c === t ? ' class="worst"' : ''}>${c}</th>`).join('')}<th scope="col">all</th></tr></thead><tbody>${
    row('before', before.map(String), String(sum(before)))}${row('after', after.map(String), String(sum(after)))}${
    row('delta', after.map((a, c) => signed(a - before[c])), signed(sum(after) - sum(before)))}</tbody>`;
  renderConfusion();
  if (r.validation) renderCurve(r.validation.curve, t, r.settings.finetuneSteps, r.validation.best);
  if (r.validation?.stoppedEarly) $('curve-note').textContent = `Stopped early at step ${r.validation.curve.at(-1)!.step}; kept the adapter of step ${r.validation.best!.step}.`;
  else if (r.validation?.best) $('curve-note').textContent = `Kept the adapter of step ${r.validation.best.step} (fewest validation errors by the early-stopping criterion).`;
  const p = r.params;
  $('frozen').innerHTML = `
    <p class="verdict ${r.frozenUnchanged ? 'ok' : 'bad'}" id="frozen-verdict">${r.frozenUnchanged
      ? `✓ identical: all ${int(p.frozen)} base weights bit-for-bit unchanged`
      : '✗ the base weights changed'}</p>
    <p>SHA-256 before: <code class="hash" id="hash-before">${r.frozenHashBefore}</code></p>
    <p>SHA-256 after: <code class="hash" id="hash-after">${r.frozenHashAfter}</code></p>
    <p id="params">Parameters: ${int(p.frozen)} frozen, ${int(p.trainable)} trainable LoRA (${((100 * p.trainable) / p.frozen).toFixed(2)} % of the base model).</p>`;
}

function renderConfusion(): void {
  if (!report) return;
  const which = $<HTMLSelectElement>('confusion-which').value;
  $('confusion').innerHTML = confusionRows(which === 'after' ? report.confusionAfter : report.confusionBefore, report.targetClass);
}

// ---- draw a digit ------------------------------------------------------------------------------

let image: Uint8Array | null = null;
const columns = ['base', 'adapted'].map((key) => {
  const el = document.createElement('div');
  el.className = 'pred';
  el.dataset.model = key;
  el.innerHTML = `<h3></h3><output aria-label="${key} model's prediction"></output><ol>${
    Array.from({ length: 10 }, (_, c) => `<li><span>${c}</span><span class="bar"><span></span></span><span class="pct"></span></li>`).join('')}</ol>`;
  $('predictions').append(el);
  return el;
});

function showColumn(el: HTMLElement, title: string, logits: Float32Array | null): void {
  el.querySelector('h3')!.textContent = title;
  const out = el.querySelector('output')!;
  let probs: number[] = [];
  if (logits) {
    const max = Math.max(...logits);
    const e = Array.from(logits, (v) => Math.exp(v - max));
    probs = e.map((v) => v / sum(e));
  }
  const top = probs.length ? probs.indexOf(Math.max(...probs)) : -1;
  out.textContent = top >= 0 ? String(top) : '–';
  out.dataset.digit = top >= 0 ? String(top) : '';
  el.querySelectorAll('li').forEach((li, c) => {
    li.className = c === top ? 'top' : '';
    (li.querySelector('.bar span') as HTMLElement).style.width = `${((probs[c] ?? 0) * 100).toFixed(1)}%`;
    li.querySelector('.pct')!.textContent = probs.length ? `${(probs[c] * 100).toFixed(1)} %` : '';
  });
}

let predicting = false, again = false;
/** Classifies the current drawing with both models; calls made meanwhile coalesce into one more. */
async function predictNow(): Promise<void> {
  if (predicting) {
    again = true;
    return;
  }
  predicting = true;
  try {
    do {
      again = false;
      const m = models, img = image;
      const baseTitle = 'base model (frozen)';
      const adaptedTitle = m?.adapted ? `adapted: base + ${m.label}` : 'adapted model';
      if (!m || !img) {
        showColumn(columns[0], baseTitle, null);
        showColumn(columns[1], adaptedTitle, null);
        continue;
      }
      // The pixel values the models were trained on: 0..255 × the pixel scale (1, the reference's).
      const x = Float32Array.from(img, (v) => v * REFERENCE_SETTINGS.pixelScale);
      try {
        const [b, a] = await Promise.all([m.base.predict(x, 1), m.adapted?.predict(x, 1) ?? null]);
        if (models === m) {
          showColumn(columns[0], baseTitle, b);
          showColumn(columns[1], m.adapted ? adaptedTitle : 'adapted model: none loaded', a);
        }
      } catch {
        // The models were replaced (a new run, a loaded file) while this prediction ran.
      }
    } while (again);
  } finally {
    predicting = false;
  }
}

const pad = drawingPad($<HTMLCanvasElement>('pad'), (img) => {
  image = img;
  paintPreview($<HTMLCanvasElement>('preview'), img);
  if (!img) $('sample-note').textContent = '';
  void predictNow();
});

// ---- files -------------------------------------------------------------------------------------

function download(name: string, content: Uint8Array | string, type: string): void {
  const blob = new Blob([typeof content === 'string' ? content : new Uint8Array(content)], { type });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
}

async function withFiles(what: string, f: () => Promise<string>): Promise<void> {
  const status = $('files-status');
  status.className = '';
  status.textContent = `${what}…`;
  try {
    status.textContent = await f();
  } catch (e) {
    status.className = 'error';
    status.textContent = `${what} failed: ${message(e)}`;
  }
}

const peftFiles = () => {
  const m = models!;
  m.peft ??= m.adapted!.toPeft();
  return m.peft;
};

async function loadFiles(files: File[]): Promise<string> {
  if (!session || !testSet) throw new Error('the engine is not ready');
  let config: { text: string; name: string } | null = null, adapter: { bytes: Uint8Array; name: string } | null = null;
  let model: { bytes: Uint8Array; name: string } | null = null;
  for (const f of files) {
    if (f.name.endsWith('.json')) {
      config = { text: await f.text(), name: f.name };
      continue;
    }
    const bytes = new Uint8Array(await f.arrayBuffer());
    const names = [...parseSafetensors(bytes, f.name).tensors.keys()];
    if (names.some((n) => n.startsWith('base_model.model.'))) adapter = { bytes, name: f.name };
    else model = { bytes, name: f.name };
  }
  if (!!config !== !!adapter) throw new Error('an adapter is two files: select adapter_config.json and adapter_model.safetensors together');
  const base = model ? await session.loadModel(model.bytes, { name: model.name }) : models?.base;
  if (!base) throw new Error('an adapter adapts a base model: run the experiment first, or select a model.safetensors with it');
  let adapted: Mlp | null = null;
  try {
    if (config && adapter) adapted = await base.addPeftAdapter(parsePeftAdapter(config.text, adapter.bytes, { config: config.name, adapter: adapter.name }), 'loaded');
  } catch (e) {
    if (model) await base.dispose();
    throw e;
  }
  const old = models;
  models = { base, adapted: adapted ?? (model ? null : old?.adapted ?? null), label: adapted ? `the loaded adapter (r ${(await adapted.info()).lora?.r})` : old?.label ?? '' };
  // Dispose what is no longer used: a replaced base (with its adapted model), or a replaced adapter.
  if (old && old.base !== base) await Promise.all([old.base.dispose(), old.adapted?.dispose()].map((p) => p?.catch(() => {})));
  else if (old?.adapted && adapted) await old.adapted.dispose().catch(() => {});
  refreshModelButtons();
  void predictNow();
  const parts: string[] = [];
  if (model) parts.push(`${model.name}: test accuracy ${pct((await base.evaluate(testSet)).accuracy)}`);
  if (adapted) parts.push(`adapter ${adapter!.name}: test accuracy with it ${pct((await adapted.evaluate(testSet)).accuracy)}`);
  return `Loaded ${parts.join('; ')}. The drawing pad uses ${adapted ? 'it' : 'them'} now.`;
}

// ---- wiring ------------------------------------------------------------------------------------

$('settings').addEventListener('submit', (e) => {
  e.preventDefault();
  void run(false);
});
$('quick').addEventListener('click', () => void run(true));
$('stop').addEventListener('click', () => {
  controller?.abort();
  $('phase-label').textContent = 'Stopping after the current step…';
});
$('preset').addEventListener('change', () => applyPreset($<HTMLSelectElement>('preset').value));
input('early').addEventListener('change', syncEarly);
$('confusion-which').addEventListener('change', renderConfusion);
$('clear').addEventListener('click', () => pad.clear());
let samples = 0;
$('sample').addEventListener('click', () => {
  if (!mnist) return;
  const { test } = mnist;
  // A fixed walk through the test set (same images in the same order on every visit); every other
  // one a digit of the fine-tuned class, where the two models differ most.
  let i = (samples * 7919 + 1925) % test.count;
  const want = report && samples % 2 === 1 ? report.targetClass : null;
  while (want !== null && test.labels[i] !== want) i = (i + 1) % test.count;
  samples++;
  pad.show(test.images.subarray(i * 784, (i + 1) * 784));
  $('sample-note').textContent = `Test image #${i}, labelled ${test.labels[i]}.`;
});
$('dl-model').addEventListener('click', () => void withFiles('model.safetensors', async () => {
  const bytes = await models!.base.toSafetensors();
  download('model.safetensors', bytes, 'application/octet-stream');
  return `model.safetensors: ${int(bytes.length)} bytes (the frozen base, PyTorch layout).`;
}));
$('dl-adapter').addEventListener('click', () => void withFiles('adapter_model.safetensors', async () => {
  const f = await peftFiles();
  download('adapter_model.safetensors', f.adapter, 'application/octet-stream');
  return `adapter_model.safetensors: ${int(f.adapter.length)} bytes (PEFT); take adapter_config.json with it.`;
}));
$('dl-config').addEventListener('click', () => void withFiles('adapter_config.json', async () => {
  const f = await peftFiles();
  download('adapter_config.json', f.configJson, 'application/json');
  return 'adapter_config.json: PEFT LoRA config (r, lora_alpha, target_modules).';
}));
input('load').addEventListener('change', () => {
  const el = input('load');
  const files = [...(el.files ?? [])];
  el.value = '';
  if (files.length) void withFiles('Loading', () => loadFiles(files));
});

async function boot(): Promise<void> {
  applyPreset('reference');
  paintPreview($<HTMLCanvasElement>('preview'), null);
  void predictNow();
  try {
    const [s, data] = await Promise.all([Session.start(), loadMnist()]);
    session = s;
    mnist = data;
    testSet = await s.dataset({ images: data.test.images, labels: data.test.labels, rowLen: 784, pixelScale: REFERENCE_SETTINGS.pixelScale });
    showEngine(s, data);
    setRunning(false);
    $<HTMLButtonElement>('sample').disabled = false;
    setStatus('ready', 'Ready. "Run the experiment" uses the reference settings (one epoch of pre-training); "Quick run" pre-trains for 100 steps only.');
  } catch (e) {
    setStatus('error', `Could not start: ${message(e)}`);
  }
}

void boot();
