// The engine: lives in a worker (workers/engine.worker.ts), owns datasets, weights, adapters and
// optimizer state, and runs whole loops of steps per call. The main thread talks to it through
// Comlink (src/session.ts); tests may also call it in-process. Numbers cross this boundary
// rarely: a dataset once, then one call per training run, with a progress callback every N steps.

import type { Buf, Kernels } from './kernels.js';
import { ReferenceKernels } from './reference-kernels.js';
import { WasmKernels } from './wasm-kernels.js';
import { compileKernels, pickFlavour } from './wasm-loader.js';
import type { SpawnThread } from './threads.js';
import { normal, Stream, streamKey, uniform } from './rng.js';
import { sampleBatch, stratifiedSplit } from './sampling.js';
import {
  adamStep, allocGrads, backward, createAdam, createWorkspace, dropoutPlan, forward, freeAdam, freeGrads,
  freeWorkspace, gradList, layers, lossAndGrad, trainableParams,
  type AdamState, type Grads, type LoraState, type ModelState, type Workspace,
} from './step.js';
import { NumericalError, ShapeError, StateError, OptionError } from '../errors.js';
import { checkInt, checkNumber, moduleNames, resolveLoraConfig, resolveMlpOptions, resolveTrainOptions } from '../options.js';
import type {
  DatasetInfo, DatasetSpec, EngineInfo, EngineOptions, EvalResult, LoraConfig, MlpOptions, ModelInfo,
  CurvePoint, ModelStateExport, TrainOptions, TrainProgress, TrainResult,
} from '../types.js';

/** Pixels and labels in kernel memory, shared by a dataset and the views (splits) made of it. */
interface Storage {
  images: Buf;
  labels: Buf;
  users: number;
}

interface Dataset {
  info: DatasetInfo;
  storage: Storage;
  /** The storage rows this dataset consists of, in order (all of them for an added dataset). */
  rows: Int32Array;
  /** hostLabels[i] = label of rows[i]. */
  hostLabels: Uint8Array;
}

/** A named set of LoRA factors on a frozen base, with its own optimizer state. */
interface Adapter {
  lora: LoraState;
  targetModules: string[];
  init: 'peft' | 'reference';
  adam: AdamState | null;
  grads: Grads | null;
}

interface Model {
  /** state.lora is the active adapter's factors (null: the base alone). */
  state: ModelState;
  /** Base training (before the first adapter): Adam state and ∂W buffers. */
  adam: AdamState | null;
  grads: Grads | null;
  ws: Workspace | null;
  /** Set by the first loraize, never cleared: the base weights are read-only from then on. */
  frozen: boolean;
  adapters: Map<string, Adapter>;
  active: string | null;
  /** Bumped whenever base weights change: first-layer caches of older versions are stale. */
  baseVersion: number;
  /** Cached first-layer products x·W_0 (see firstLayerCache), most recently used last. */
  caches: Map<string, FirstLayerCache>;
}

/** x·W_0 for a fixed list of dataset rows, valid while the base weights keep `version`. */
interface FirstLayerCache {
  buf: Buf;
  rows: Int32Array;
  version: number;
}

/**
 * Budget of the first-layer caches, per model (one cache may use half). A LoRA fine-tune on one
 * MNIST class caches ≈ 6,000 × 1000 floats (24 MB), a 10 % validation split the same; the test
 * set (10,000 rows, 40 MB) and fine-tuning on all 60,000 training images (240 MB) run uncached by
 * default, to keep `npm start` under 300 MB. EngineOptions.cacheBytes changes it.
 */
const DEFAULT_CACHE_BYTES = 64 << 20;

export type ProgressCallback = (p: TrainProgress) => void | Promise<void>;

/** What the worker entry tells the engine about its platform. */
export interface EnginePlatform {
  /** Logical cores (os.availableParallelism() / navigator.hardwareConcurrency). */
  cores?: number;
  /** Starts a kernel thread; absent where threads are impossible. */
  spawnThread?: SpawnThread;
  /** Why spawnThread is absent, for EngineInfo.note. */
  noThreadsReason?: string;
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

export class Engine {
  private k!: Kernels;
  private info!: EngineInfo;
  private readonly datasets = new Map<number, Dataset>();
  private readonly models = new Map<number, Model>();
  private nextId = 1;
  private cacheBytes = DEFAULT_CACHE_BYTES;
  private readonly aborted = new Set<number>();

  /** Creates an engine on a given kernel set (tests) or, with init(), on the best available one. */
  constructor(kernels?: Kernels, private readonly platform: EnginePlatform = {}) {
    if (kernels) this.useKernels(kernels, kernels.name.startsWith('wasm') ? 'wasm' : 'reference', null, 1);
  }

  async init(opts: EngineOptions = {}): Promise<EngineInfo> {
    if (this.k) return this.info;
    let backend = opts.backend ?? 'wasm';
    const requested = opts.threads ?? 'auto';
    this.setCacheBytes(opts.cacheBytes ?? DEFAULT_CACHE_BYTES);
    if (requested !== 'auto') checkInt('threads', requested, { min: 1, max: 256 });
    const batchHint = checkInt('batchHint', opts.batchHint ?? 128, { min: 1 });
    // 'auto' looks at the GPU with a throw-away WebGL2 context (no tfjs download) and picks WebGL
    // only on a hardware GPU for large batches (src/platform-browser.ts says why).
    let auto: { why: string; probe: { renderer: string; vendor: string; software: boolean } | null } | null = null;
    if (backend === 'auto') {
      const { chooseAutoBackend } = await import('../platform-browser.js');
      const choice = chooseAutoBackend(batchHint);
      backend = choice.backend;
      auto = choice;
    }
    if (backend === 'reference') {
      this.useKernels(new ReferenceKernels('f32'), 'reference', null, 1);
    } else if (backend === 'wasm') {
      const flavour = pickFlavour(opts.simd ?? 'auto');
      let threads = requested === 'auto' ? Math.max(1, this.platform.cores ?? 1) : requested;
      let note: string | undefined;
      if (threads > 1 && typeof SharedArrayBuffer === 'undefined') {
        note = `${threads} threads asked, 1 used: no SharedArrayBuffer here (a page must be cross-origin isolated: COOP same-origin + COEP require-corp)`;
        threads = 1;
      } else if (threads > 1 && !this.platform.spawnThread) {
        note = `${threads} threads asked, 1 used: ${this.platform.noThreadsReason ?? 'this platform cannot start kernel threads'}`;
        threads = 1;
      }
      const set = await WasmKernels.create(await compileKernels(flavour, threads > 1), flavour, { threads, spawnThread: this.platform.spawnThread });
      this.useKernels(set, 'wasm', flavour, set.threads);
      if (note) this.info.note = note;
    } else if (backend === 'webgl') {
      // Loaded only here: pages that never choose WebGL never download tfjs.
      if (isNode) throw new OptionError('backend "webgl" needs a browser: Node has no WebGL; expected "wasm", "reference" or "auto"');
      let set: import('./webgl-kernels.js').WebGLKernels;
      try {
        const { WebGLKernels } = await import('./webgl-kernels.js');
        set = await WebGLKernels.create();
      } catch (e) {
        throw new OptionError(`backend "webgl" cannot run here: ${e instanceof Error ? e.message : String(e)}`);
      }
      this.useKernels(set, 'webgl', null, 1);
      const { renderer, vendor, software, offscreen } = set.device;
      this.info.gl = { renderer, vendor, software, offscreen };
    } else {
      throw new OptionError(`backend must be "wasm", "webgl", "reference" or "auto", got ${JSON.stringify(backend)}`);
    }
    if (auto) {
      this.info.note = this.info.note ? `${auto.why}; ${this.info.note}` : auto.why;
      if (auto.probe && !this.info.gl) this.info.gl = { renderer: auto.probe.renderer, vendor: auto.probe.vendor, software: auto.probe.software };
    }
    return this.info;
  }

  private useKernels(k: Kernels, backend: EngineInfo['backend'], simd: EngineInfo['simd'], threads: number): void {
    this.k = k;
    // Engines built on a given kernel set (tests) name their backend after it.
    if (k.name.startsWith('webgl')) backend = 'webgl';
    this.info = { backend, kernels: k.name, simd, threads, runtime: isNode ? 'node' : 'browser' };
  }

  /** Memory budget of the first-layer caches (0 = no caching); see EngineOptions.cacheBytes. */
  setCacheBytes(bytes: number): void {
    this.cacheBytes = checkInt('cacheBytes', bytes, { min: 0 });
    for (const m of this.models.values()) this.dropCaches(m);
  }

  /** Stops kernel threads (the worker itself is terminated by the session). */
  close(): void {
    if (this.k instanceof WasmKernels) this.k.close();
  }

  get kernels(): Kernels {
    return this.k;
  }

  getInfo(): EngineInfo {
    return this.info;
  }

  // ---- datasets ------------------------------------------------------------------------------

  addDataset(spec: DatasetSpec): DatasetInfo {
    const { images, labels, rowLen } = spec;
    const numClasses = spec.numClasses ?? 10;
    const pixelScale = spec.pixelScale ?? 1;
    if (!(images instanceof Uint8Array) || !(labels instanceof Uint8Array)) {
      throw new ShapeError('a dataset needs images and labels as Uint8Array (pixels 0..255, one label byte per image)');
    }
    if (!Number.isSafeInteger(rowLen) || rowLen < 1) throw new ShapeError(`rowLen must be a positive integer, got ${rowLen}`);
    if (!Number.isSafeInteger(numClasses) || numClasses < 2 || numClasses > 256) throw new ShapeError(`numClasses must be an integer in 2..256, got ${numClasses}`);
    if (!Number.isFinite(pixelScale) || pixelScale <= 0) throw new OptionError(`pixelScale must be a finite number > 0, got ${pixelScale}`);
    const count = labels.length;
    if (count === 0) throw new ShapeError('a dataset needs at least one image');
    if (images.length !== count * rowLen) {
      throw new ShapeError(`images hold ${images.length} bytes but ${count} labels × ${rowLen} pixels = ${count * rowLen} were expected`);
    }
    const classCounts = new Array(numClasses).fill(0);
    for (let i = 0; i < count; i++) {
      if (labels[i] >= numClasses) throw new ShapeError(`label ${labels[i]} at index ${i} is outside 0..${numClasses - 1}`);
      classCounts[labels[i]]++;
    }
    const imgBuf = this.k.alloc('u8', images.length);
    this.k.write(imgBuf, images);
    const labBuf = this.k.alloc('u8', count);
    this.k.write(labBuf, labels);
    const info: DatasetInfo = { id: this.nextId++, count, rowLen, numClasses, pixelScale, classCounts };
    const rows = Int32Array.from({ length: count }, (_, i) => i);
    this.datasets.set(info.id, { info, storage: { images: imgBuf, labels: labBuf, users: 1 }, rows, hostLabels: labels.slice() });
    return info;
  }

  /**
   * A seeded split stratified by class: two new datasets viewing the same pixels (no copy).
   * `fraction` of each class goes to the validation part.
   */
  splitDataset(id: number, fraction: number, seed = 0): { train: DatasetInfo; validation: DatasetInfo } {
    const d = this.dataset(id);
    checkNumber('validation fraction', fraction, { above: 0, below: 1 });
    checkInt('split seed', seed, { min: 0, max: 2 ** 32 - 1 });
    const parts = stratifiedSplit(d.hostLabels, d.info.numClasses, fraction, seed);
    if (parts.train.length === 0 || parts.validation.length === 0) {
      throw new OptionError(`a validation fraction of ${fraction} leaves one side of the split empty (${d.info.count} images)`);
    }
    const view = (positions: Int32Array): DatasetInfo => {
      const hostLabels = Uint8Array.from(positions, (p) => d.hostLabels[p]);
      const classCounts = new Array(d.info.numClasses).fill(0);
      for (const l of hostLabels) classCounts[l]++;
      const info: DatasetInfo = { ...d.info, id: this.nextId++, count: positions.length, classCounts };
      d.storage.users++;
      this.datasets.set(info.id, { info, storage: d.storage, rows: Int32Array.from(positions, (p) => d.rows[p]), hostLabels });
      return info;
    };
    return { train: view(parts.train), validation: view(parts.validation) };
  }

  removeDataset(id: number): void {
    const d = this.dataset(id);
    for (const m of this.models.values()) {
      for (const [key, c] of m.caches) if (key.startsWith(`${id}|`)) { this.k.free(c.buf); m.caches.delete(key); }
    }
    if (--d.storage.users === 0) {
      this.k.free(d.storage.images);
      this.k.free(d.storage.labels);
    }
    this.datasets.delete(id);
  }

  private dataset(id: number): Dataset {
    const d = this.datasets.get(id);
    if (!d) throw new StateError(`dataset ${id} does not exist in this engine (removed, or from another session)`);
    return d;
  }

  // ---- models --------------------------------------------------------------------------------

  createMlp(opts: MlpOptions = {}): number {
    const o = resolveMlpOptions(opts);
    const W = o.layers.slice(0, -1).map((nIn, l) => {
      // uniform(−1, 1) / sqrt(in·out), element i of the init stream of layer l.
      const nOut = o.layers[l + 1];
      const key = streamKey(o.seed, Stream.init, 0, l);
      const bound = 1 / Math.sqrt(nIn * nOut);
      const host = new Float32Array(nIn * nOut);
      for (let i = 0; i < host.length; i++) host[i] = (2 * uniform(key, i) - 1) * bound;
      const buf = this.k.alloc('f32', host.length);
      this.k.write(buf, host);
      return buf;
    });
    const id = this.nextId++;
    this.models.set(id, {
      state: { sizes: o.layers, dropout: o.dropout, seed: o.seed, W, lora: null, step: 0 },
      adam: null, grads: null, ws: null, frozen: false, adapters: new Map(), active: null, baseVersion: 0, caches: new Map(),
    });
    return id;
  }

  disposeModel(id: number): void {
    const m = this.model(id);
    this.releaseTraining(m);
    this.dropCaches(m);
    for (const w of m.state.W) this.k.free(w);
    for (const a of m.adapters.values()) this.freeAdapter(a);
    this.models.delete(id);
  }

  private model(id: number): Model {
    const m = this.models.get(id);
    if (!m) throw new StateError(`model ${id} does not exist in this engine (disposed, or from another session)`);
    return m;
  }

  private releaseTraining(m: Model): void {
    if (m.adam) freeAdam(this.k, m.adam);
    if (m.grads) freeGrads(this.k, m.grads);
    if (m.ws) freeWorkspace(this.k, m.ws);
    m.adam = null;
    m.grads = null;
    m.ws = null;
  }

  private freeAdapter(a: Adapter): void {
    for (const b of [...a.lora.A, ...a.lora.B]) if (b) this.k.free(b);
    if (a.adam) freeAdam(this.k, a.adam);
    if (a.grads) freeGrads(this.k, a.grads);
  }

  private workspace(m: Model, rows: number): Workspace {
    if (m.ws && m.ws.capacity >= rows) return m.ws;
    if (m.ws) freeWorkspace(this.k, m.ws);
    m.ws = createWorkspace(this.k, m.state, rows);
    return m.ws;
  }

  modelInfo(id: number): ModelInfo {
    const m = this.model(id);
    const s = m.state;
    const total = s.W.reduce((a, w) => a + w.length, 0);
    const active = m.active ? m.adapters.get(m.active)! : null;
    const trainable = !m.frozen ? total : active ? trainableParams(s).reduce((a, b) => a + b.length, 0) : 0;
    return {
      layers: s.sizes.slice(), dropout: s.dropout, seed: s.seed, step: s.step,
      lora: active ? { name: m.active!, r: active.lora.r, alpha: active.lora.alpha, targetModules: active.targetModules.slice(), init: active.init } : null,
      adapters: [...m.adapters.keys()],
      frozen: m.frozen,
      params: m.frozen ? { frozen: total, trainable, total: total + trainable } : { frozen: 0, trainable, total },
    };
  }

  /**
   * Adds a LoRA adapter with PEFT's meaning (A r×in, B out×r, update (α/r)·B·A), makes it the
   * active one and freezes the base weights for good. init 'peft': A uniform ±1/√in (PEFT's
   * kaiming_uniform(a=√5)), B zero; init 'reference': A zero, B standard normal. The output is
   * unchanged at step 0 either way. Several adapters can live on one base (`name`).
   */
  loraize(id: number, config: LoraConfig = {}): ModelInfo {
    const m = this.model(id);
    const c = resolveLoraConfig(config, m.state.sizes);
    if (m.adapters.has(c.name)) throw new StateError(`the model already has an adapter named "${c.name}" (adapters: ${[...m.adapters.keys()].join(', ')})`);
    const names = moduleNames(layers(m.state));
    const A: (Buf | null)[] = [], B: (Buf | null)[] = [];
    names.forEach((name, l) => {
      if (!c.targetModules.includes(name)) { A.push(null); B.push(null); return; }
      const nIn = m.state.sizes[l], nOut = m.state.sizes[l + 1];
      // Each adapter draws its own stream: the name is part of the key.
      const key = streamKey(m.state.seed ^ hashName(c.name), Stream.loraInit, 0, l);
      const a = this.k.alloc('f32', c.r * nIn); // zero-filled
      const b = this.k.alloc('f32', nOut * c.r);
      if (c.init === 'peft') {
        const bound = 1 / Math.sqrt(nIn);
        this.k.write(a, Float32Array.from({ length: c.r * nIn }, (_, i) => (2 * uniform(key, i) - 1) * bound));
      } else {
        this.k.write(b, Float32Array.from({ length: nOut * c.r }, (_, i) => normal(key, i)));
      }
      A.push(a);
      B.push(b);
    });
    if (!m.frozen) {
      this.releaseTraining(m); // the base optimizer state and ∂W buffers are not needed any more
      m.frozen = true;
    }
    m.adapters.set(c.name, { lora: { r: c.r, alpha: c.alpha, scale: c.alpha / c.r, A, B }, targetModules: c.targetModules, init: c.init, adam: null, grads: null });
    this.activate(m, c.name);
    return this.modelInfo(id);
  }

  private activate(m: Model, name: string | null): void {
    if (m.ws) freeWorkspace(this.k, m.ws); // its LoRA buffers depend on the adapter's rank
    m.ws = null;
    m.active = name;
    m.state.lora = name ? m.adapters.get(name)!.lora : null;
  }

  /** Switches the adapter used by predict/evaluate/train (null: the frozen base alone). No copy of the base. */
  setActiveAdapter(id: number, name: string | null): ModelInfo {
    const m = this.model(id);
    if (name !== null && !m.adapters.has(name)) throw new StateError(`no adapter named "${name}" (adapters: ${[...m.adapters.keys()].join(', ') || 'none'})`);
    this.activate(m, name);
    return this.modelInfo(id);
  }

  deleteAdapter(id: number, name: string): ModelInfo {
    const m = this.model(id);
    const a = m.adapters.get(name);
    if (!a) throw new StateError(`no adapter named "${name}" (adapters: ${[...m.adapters.keys()].join(', ') || 'none'})`);
    if (m.active === name) this.activate(m, null);
    this.freeAdapter(a);
    m.adapters.delete(name);
    return this.modelInfo(id);
  }

  /**
   * A new, unfrozen model whose weights are W + (α/r)·(B·A)ᵀ (our in×out layout) for the given
   * adapter (default: the active one). The original model is not touched.
   */
  merge(id: number, name?: string): number {
    const m = this.model(id);
    const key = name ?? m.active;
    const a = key ? m.adapters.get(key) : undefined;
    if (!a) throw new StateError(key ? `no adapter named "${key}"` : 'the model has no active adapter to merge');
    const s = m.state;
    const W = s.W.map((w, l) => {
      const out = this.k.alloc('f32', w.length);
      this.k.copy(w, out, w.length);
      const A = a.lora.A[l], B = a.lora.B[l];
      // ΔW (in×out) = s · Aᵀ(in×r) · Bᵀ(r×out): A is r×in, B is out×r.
      if (A && B) this.k.gemm(true, true, s.sizes[l], s.sizes[l + 1], a.lora.r, a.lora.scale, A, B, 1, out);
      return out;
    });
    const newId = this.nextId++;
    this.models.set(newId, {
      state: { sizes: s.sizes.slice(), dropout: s.dropout, seed: s.seed, W, lora: null, step: s.step },
      adam: null, grads: null, ws: null, frozen: false, adapters: new Map(), active: null, baseVersion: 0, caches: new Map(),
    });
    return newId;
  }

  /**
   * Everything needed to continue exactly where the model is: spec, step (the RNG position),
   * weights, adapters and every Adam moment. Plain arrays: checkpoints serialize this.
   */
  exportState(id: number): ModelStateExport {
    const m = this.model(id);
    const s = m.state;
    const rd = (b: Buf) => this.k.read(b) as Float32Array;
    const adam = (x: AdamState | null) => (x ? { t: x.t, m: x.m.map(rd), v: x.v.map(rd) } : null);
    return {
      layers: s.sizes.slice(), dropout: s.dropout, seed: s.seed, step: s.step, frozen: m.frozen,
      W: s.W.map(rd), adam: adam(m.adam), active: m.active,
      adapters: [...m.adapters].map(([name, a]) => ({
        name, r: a.lora.r, alpha: a.lora.alpha, init: a.init, targetModules: a.targetModules.slice(),
        A: a.lora.A.map((b) => (b ? rd(b) : null)), B: a.lora.B.map((b) => (b ? rd(b) : null)), adam: adam(a.adam),
      })),
    };
  }

  /** Creates a model from exportState's output; every shape is checked before anything is allocated. */
  importState(x: ModelStateExport): number {
    const o = resolveMlpOptions({ layers: x.layers, dropout: x.dropout, seed: x.seed });
    const sizes = o.layers, L = sizes.length - 1;
    checkInt('step', x.step, { min: 0 });
    const need = (what: string, a: ArrayLike<number> | null | undefined, n: number) => {
      if (!a || a.length !== n) throw new ShapeError(`${what}: expected ${n} values, got ${a ? a.length : 'none'}`);
    };
    const wLen = (l: number) => sizes[l] * sizes[l + 1];
    if (!Array.isArray(x.W) || x.W.length !== L) throw new ShapeError(`expected ${L} weight matrices, got ${x.W?.length}`);
    x.W.forEach((w, l) => need(`W${l + 1}`, w, wLen(l)));
    const checkAdam = (what: string, a: ModelStateExport['adam'], lens: number[]) => {
      if (!a) return;
      checkInt(`${what} step`, a.t, { min: 0 });
      if (a.m.length !== lens.length || a.v.length !== lens.length) throw new ShapeError(`${what}: expected ${lens.length} moment tensors`);
      lens.forEach((n, i) => { need(`${what} m[${i}]`, a.m[i], n); need(`${what} v[${i}]`, a.v[i], n); });
    };
    checkAdam('base Adam', x.adam, sizes.slice(0, -1).map((_, l) => wLen(l)));
    const names = new Set<string>();
    for (const a of x.adapters) {
      const c = resolveLoraConfig({ name: a.name, r: a.r, alpha: a.alpha, init: a.init, targetModules: a.targetModules }, sizes);
      if (names.has(c.name)) throw new ShapeError(`adapter "${c.name}" appears twice`);
      names.add(c.name);
      const lens: number[] = [];
      moduleNames(L).forEach((mod, l) => {
        const on = c.targetModules.includes(mod);
        if (on) {
          need(`adapter ${c.name} A${l + 1}`, a.A[l], c.r * sizes[l]);
          need(`adapter ${c.name} B${l + 1}`, a.B[l], sizes[l + 1] * c.r);
          lens.push(c.r * sizes[l], sizes[l + 1] * c.r);
        } else if (a.A[l] || a.B[l]) {
          throw new ShapeError(`adapter ${c.name} has factors for ${mod}, which is not among its target modules`);
        }
      });
      checkAdam(`adapter ${c.name} Adam`, a.adam, lens);
    }
    if (x.active !== null && !names.has(x.active)) throw new ShapeError(`the active adapter "${x.active}" is not among the adapters`);
    if (x.adapters.length && !x.frozen) throw new ShapeError('a model with adapters must have a frozen base');
    // All checked: allocate.
    const up = (a: Float32Array) => { const b = this.k.alloc('f32', a.length); this.k.write(b, a); return b; };
    const adam = (a: ModelStateExport['adam']): AdamState | null => (a ? { t: a.t, m: a.m.map(up), v: a.v.map(up) } : null);
    const m: Model = {
      state: { sizes, dropout: o.dropout, seed: o.seed, W: x.W.map(up), lora: null, step: x.step },
      adam: adam(x.adam), grads: null, ws: null, frozen: x.frozen, adapters: new Map(), active: null, baseVersion: 0, caches: new Map(),
    };
    for (const a of x.adapters) {
      m.adapters.set(a.name, {
        lora: { r: a.r, alpha: a.alpha, scale: a.alpha / a.r, A: a.A.map((v) => (v ? up(v) : null)), B: a.B.map((v) => (v ? up(v) : null)) },
        targetModules: a.targetModules.slice(), init: a.init, adam: adam(a.adam), grads: null,
      });
    }
    const id = this.nextId++;
    this.models.set(id, m);
    this.activate(m, x.active);
    return id;
  }

  // ---- first-layer cache ---------------------------------------------------------------------

  /** The first-layer caches a model holds now (rows, bytes, whether still valid). */
  cacheStats(id: number): { key: string; rows: number; bytes: number; valid: boolean }[] {
    const m = this.model(id);
    return [...m.caches].map(([key, c]) => ({ key, rows: c.rows.length, bytes: c.buf.length * 4, valid: c.version === m.baseVersion }));
  }

  private dropCaches(m: Model, keep?: (c: FirstLayerCache) => boolean): void {
    for (const [key, c] of m.caches) {
      if (keep?.(c)) continue;
      this.k.free(c.buf);
      m.caches.delete(key);
    }
  }

  /**
   * x·W_0 for the given dataset rows, computed once and reused while the base weights do not
   * change (a frozen base, or evaluations between two base updates). The product of the first
   * layer is the most expensive part of a LoRA step that does not depend on the adapters.
   * Returns null when the rows would not fit the budget.
   */
  private firstLayerCache(m: Model, d: Dataset, key: string, rows: Int32Array, ws: Workspace): Buf | null {
    const s = m.state;
    const width = s.sizes[1];
    const bytes = rows.length * width * 4;
    if (bytes > this.cacheBytes / 2) return null;
    const hit = m.caches.get(key);
    if (hit && hit.version === m.baseVersion) {
      m.caches.delete(key);
      m.caches.set(key, hit); // most recently used last
      return hit.buf;
    }
    this.dropCaches(m, (c) => c.version === m.baseVersion && c !== hit);
    let used = [...m.caches.values()].reduce((a, c) => a + c.buf.length * 4, 0);
    for (const [k2, c] of m.caches) {
      if (used + bytes <= this.cacheBytes) break;
      this.k.free(c.buf);
      m.caches.delete(k2);
      used -= c.buf.length * 4;
    }
    const k = this.k;
    const buf = k.alloc('f32', rows.length * width);
    for (let start = 0; start < rows.length; start += ws.capacity) {
      const n = Math.min(ws.capacity, rows.length - start);
      k.write(ws.idx, rows.subarray(start, start + n));
      k.gatherRows(d.storage.images, d.storage.labels, s.sizes[0], ws.idx, n, d.info.pixelScale, ws.x, ws.labels);
      k.gemm(false, false, n, width, s.sizes[0], 1, ws.x, s.W[0], 0, ws.h[1]);
      k.copy(ws.h[1], buf, n * width, 0, start * width);
    }
    m.caches.set(key, { buf, rows, version: m.baseVersion });
    return buf;
  }

  // ---- training ------------------------------------------------------------------------------

  abort(runId: number): void {
    this.aborted.add(runId);
  }

  async train(id: number, datasetId: number, opts: TrainOptions, runId = 0, onProgress?: ProgressCallback): Promise<TrainResult> {
    const m = this.model(id);
    const d = this.dataset(datasetId);
    const s = m.state;
    if (m.frozen && !s.lora) throw new StateError('the base weights are frozen and no adapter is active: activate one (setActiveAdapter) or loraize again');
    const o = resolveTrainOptions(opts, d.info.numClasses, !!s.lora);
    this.checkFits(m, d);
    const val = o.validation ? this.dataset(o.validation.dataset) : null;
    if (val) {
      this.checkFits(m, val);
      if (val === d || (val.storage === d.storage && overlaps(val.rows, d.rows))) {
        throw new OptionError('the validation dataset shares images with the training dataset; split them with splitDataset');
      }
    }
    const b = o.batchSize;
    const nReplay = Math.round(o.replay * b);
    const pool = this.pool(d, o.classes);
    const replayPool = nReplay > 0 ? this.pool(d, o.classes, true) : null;
    const mode = s.lora ? 'lora' : 'full';
    const k = this.k;
    let ws = this.workspace(m, b);
    // Optimizer state of what trains: the base, or the active adapter.
    const owner: { adam: AdamState | null; grads: Grads | null } = s.lora ? m.adapters.get(m.active!)! : m;
    if (!owner.grads) owner.grads = allocGrads(k, s);
    if (!owner.adam) owner.adam = createAdam(k, trainableParams(s));
    const gradBufs = owner.grads, adamState = owner.adam;
    const params = trainableParams(s), grads = gradList(s, gradBufs);
    const adamCfg = { lr: o.lr, beta1: o.beta1, beta2: o.beta2, eps: o.eps };
    const idx = new Int32Array(b), pos = new Int32Array(b);
    const losses = new Float32Array(o.steps);
    // With a frozen base the first layer's product over the pool is computed once (not with
    // replay: its rows come from outside the pool).
    const cacheKey = `${datasetId}|${o.classes?.join(',') ?? '*'}`;
    const useCache = !!s.lora && nReplay === 0;
    let cache = useCache ? this.firstLayerCache(m, d, cacheKey, pool, ws) : null;

    // Validation curve and early stopping.
    const curve: CurvePoint[] = [];
    let best: CurvePoint | null = null, sinceBest = 0, stoppedEarly = false;
    const snapshot = o.earlyStopping ? this.snapshotBuffers(params, adamState) : null;
    const validate = async (step: number): Promise<boolean> => {
      const ev = this.evaluate(id, val!.info.id);
      const tc = o.validation!.targetClass;
      const targetErrors = tc === null ? ev.mislabeled.reduce((a, x) => a + x, 0) : ev.mislabeled[tc];
      const otherErrors = tc === null ? 0 : ev.mislabeled.reduce((a, x, c) => a + (c === tc ? 0 : x), 0);
      const point: CurvePoint = { step, targetErrors, otherErrors, accuracy: ev.accuracy, loss: ev.loss };
      curve.push(point);
      // evaluate() may have regrown the workspace or evicted the training cache: fetch both again.
      ws = this.workspace(m, b);
      if (useCache) cache = this.firstLayerCache(m, d, cacheKey, pool, ws);
      if (!o.earlyStopping) return false;
      const es = o.earlyStopping;
      const total = (p: CurvePoint) => p.targetErrors + p.otherErrors;
      const better = es.criterion === 'total'
        ? !best || total(point) < total(best) || (total(point) === total(best) && point.targetErrors < best.targetErrors)
        : point.otherErrors <= curve[0].otherErrors + es.tolerance && (!best || point.targetErrors < best.targetErrors);
      if (better) {
        best = point;
        sinceBest = 0;
        this.saveSnapshot(snapshot!, params, adamState);
        return false;
      }
      return ++sinceBest >= o.earlyStopping.patience;
    };
    if (val) await validate(0);

    const t0 = now();
    let lastYield = t0, lastReport = t0, lossSinceReport = 0, stepsSinceReport = 0;
    let done = 0;
    try {
      for (; done < o.steps; done++) {
        // Batch: rows uniformly with replacement from the pool (the reference's sampling), the
        // last nReplay of them from the other classes.
        sampleBatch(pool, replayPool, b, nReplay, streamKey(s.seed, Stream.batch, s.step), idx, pos);
        k.write(ws.idx, idx);
        k.gatherRows(d.storage.images, d.storage.labels, s.sizes[0], ws.idx, b, d.info.pixelScale, ws.x, ws.labels);
        if (cache) {
          k.write(ws.pos, pos);
          k.gatherRowsF32(cache, s.sizes[1], ws.pos, b, ws.h[1]);
        }
        const drop = dropoutPlan(s, s.step);
        forward(k, s, ws, b, drop, !!cache);
        const loss = lossAndGrad(k, s, ws, b);
        if (!Number.isFinite(loss)) {
          throw new NumericalError(`the loss became ${loss} at step ${done + 1} of this run (model step ${s.step + 1}); the step was not applied. Lower the learning rate (lr = ${o.lr}) or the pixel scale.`);
        }
        backward(k, s, ws, b, drop, gradBufs, mode);
        adamStep(k, params, grads, adamState, adamCfg);
        if (!s.lora) m.baseVersion++;
        s.step++;
        losses[done] = loss;
        lossSinceReport += loss;
        stepsSinceReport++;

        const stop = val && (done + 1) % o.validation!.every === 0 ? await validate(done + 1) : false;
        const t = now();
        if (onProgress && ((done + 1) % o.progressEvery === 0 || done + 1 === o.steps || stop || (val && curve.at(-1)!.step === done + 1))) {
          await onProgress({
            step: done + 1, steps: o.steps, loss: lossSinceReport / stepsSinceReport,
            stepsPerSecond: (1000 * stepsSinceReport) / Math.max(t - lastReport, 1e-3),
            elapsedSeconds: (t - t0) / 1000,
            validation: val && curve.at(-1)!.step === done + 1 ? curve.at(-1) : undefined,
          });
          lossSinceReport = 0;
          stepsSinceReport = 0;
          lastReport = now();
          lastYield = lastReport;
        } else if (t - lastYield > 50) {
          await yieldToEventLoop(); // lets abort() and other messages in
          lastYield = now();
        }
        if (stop) { stoppedEarly = true; done++; break; }
        if (this.aborted.has(runId)) { done++; break; }
      }
      if (val && o.earlyStopping && curve.at(-1)!.step !== done && !this.aborted.has(runId)) await validate(done);
      if (snapshot && best) this.saveSnapshot(snapshot, params, adamState, true);
    } finally {
      this.aborted.delete(runId);
      if (snapshot) for (const x of snapshot) this.k.free(x);
    }
    return {
      steps: done, aborted: done < o.steps && !stoppedEarly, losses: losses.slice(0, done), seconds: (now() - t0) / 1000, mode,
      curve, best, stoppedEarly,
    };
  }

  private checkFits(m: Model, d: Dataset): void {
    const s = m.state;
    if (d.info.rowLen !== s.sizes[0]) throw new ShapeError(`the dataset has ${d.info.rowLen} values per image but the model's input layer takes ${s.sizes[0]}`);
    if (d.info.numClasses > s.sizes[s.sizes.length - 1]) throw new ShapeError(`the dataset has ${d.info.numClasses} classes but the model outputs ${s.sizes[s.sizes.length - 1]}`);
  }

  /** Buffers for a copy of the parameters and their Adam moments (early stopping's best point). */
  private snapshotBuffers(params: Buf[], adam: AdamState): Buf[] {
    return [...params, ...adam.m, ...adam.v].map((p) => this.k.alloc('f32', p.length));
  }

  /** Copies parameters + moments (+ Adam's t) into the snapshot, or back from it with `restore`. */
  private saveSnapshot(snap: Buf[] & { t?: number }, params: Buf[], adam: AdamState, restore = false): void {
    const live = [...params, ...adam.m, ...adam.v];
    live.forEach((p, i) => (restore ? this.k.copy(snap[i], p, p.length) : this.k.copy(p, snap[i], p.length)));
    if (restore) adam.t = snap.t!;
    else snap.t = adam.t;
  }

  /** Storage rows eligible for batches: all, those whose label is in `classes`, or (invert) not in it. */
  private pool(d: Dataset, classes: number[] | null, invert = false): Int32Array {
    if (!classes) return d.rows;
    const want = new Set(classes);
    const out: number[] = [];
    for (let i = 0; i < d.info.count; i++) if (want.has(d.hostLabels[i]) !== invert) out.push(d.rows[i]);
    if (out.length === 0) throw new OptionError(`no training image has a label ${invert ? 'outside' : 'in'} [${classes.join(', ')}]`);
    return Int32Array.from(out);
  }

  // ---- evaluation ----------------------------------------------------------------------------

  evaluate(id: number, datasetId: number, batchSize = 256): EvalResult {
    const m = this.model(id);
    const d = this.dataset(datasetId);
    const s = m.state;
    if (d.info.rowLen !== s.sizes[0]) throw new ShapeError(`the dataset has ${d.info.rowLen} values per image but the model's input layer takes ${s.sizes[0]}`);
    const classes = s.sizes[s.sizes.length - 1];
    if (d.info.numClasses > classes) throw new ShapeError(`the dataset has ${d.info.numClasses} classes but the model outputs ${classes}`);
    const t0 = now();
    const k = this.k;
    const chunk = Math.min(batchSize, d.info.count);
    const ws = this.workspace(m, chunk);
    const n = d.info.numClasses;
    const confusion = Array.from({ length: n }, () => new Array(n).fill(0));
    const predictions = new Int32Array(d.info.count);
    let lossSum = 0;
    const all = d.rows;
    const cache = this.firstLayerCache(m, d, `${datasetId}|eval`, all, ws);
    for (let start = 0; start < d.info.count; start += chunk) {
      const rows = Math.min(chunk, d.info.count - start);
      k.write(ws.idx, all.subarray(start, start + rows));
      k.gatherRows(d.storage.images, d.storage.labels, s.sizes[0], ws.idx, rows, d.info.pixelScale, ws.x, ws.labels);
      if (cache) {
        k.write(ws.pos, Int32Array.from({ length: rows }, (_, i) => start + i));
        k.gatherRowsF32(cache, s.sizes[1], ws.pos, rows, ws.h[1]);
      }
      forward(k, s, ws, rows, null, !!cache);
      lossSum += k.logSoftmaxNll(ws.h[layers(s)], ws.labels, rows, classes, null, 0, ws.argmax);
      predictions.set(k.read(ws.argmax, rows) as Int32Array, start);
    }
    let correct = 0;
    for (let i = 0; i < d.info.count; i++) {
      const t = d.hostLabels[i], p = predictions[i];
      if (p < n) confusion[t][p]++;
      if (t === p) correct++;
    }
    const perClass = d.info.classCounts.slice();
    const mislabeled = perClass.map((c, t) => c - (confusion[t][t] ?? 0));
    return {
      accuracy: correct / d.info.count, loss: lossSum / d.info.count, count: d.info.count,
      confusion, mislabeled, perClass, predictions, seconds: (now() - t0) / 1000,
    };
  }

  /** Logits for `n` rows of already-scaled input (row-major n × input width). */
  predict(id: number, x: Float32Array, n: number): Float32Array {
    const m = this.model(id);
    const s = m.state;
    if (!Number.isSafeInteger(n) || n < 1 || x.length !== n * s.sizes[0]) {
      throw new ShapeError(`predict expects n × ${s.sizes[0]} inputs; got ${x.length} values for n = ${n}`);
    }
    const ws = this.workspace(m, n);
    this.k.write(ws.x, x);
    forward(this.k, s, ws, n, null);
    return this.k.read(ws.h[layers(s)], n * s.sizes[s.sizes.length - 1]) as Float32Array;
  }

  // ---- weights -------------------------------------------------------------------------------

  /** Copies of the weights: W[l] in×out (row-major), A[l] r×in, B[l] out×r. */
  readWeights(id: number): { W: Float32Array[]; A: (Float32Array | null)[]; B: (Float32Array | null)[] } {
    const s = this.model(id).state;
    const rd = (b: Buf | null) => (b ? (this.k.read(b) as Float32Array) : null);
    return { W: s.W.map((w) => rd(w)!), A: s.lora?.A.map(rd) ?? [], B: s.lora?.B.map(rd) ?? [] };
  }

  /** Replaces base weights (refused once frozen) and/or adapter factors; all shapes checked first. */
  writeWeights(id: number, w: { W?: Float32Array[]; A?: (Float32Array | null)[]; B?: (Float32Array | null)[] }): void {
    const m = this.model(id);
    const s = m.state;
    const check = (what: string, got: Float32Array[] | (Float32Array | null)[] | undefined, want: (Buf | null)[]) => {
      if (!got) return;
      if (got.length !== want.length) throw new ShapeError(`${what}: expected ${want.length} matrices, got ${got.length}`);
      got.forEach((g, l) => {
        const n = want[l]?.length ?? 0;
        if ((g?.length ?? 0) !== n) throw new ShapeError(`${what}[${l}]: expected ${n} values, got ${g?.length ?? 0}`);
      });
    };
    if (w.W && m.frozen) throw new StateError('the base weights are frozen (the model has LoRA adapters); merge into a new model to change them');
    check('W', w.W, s.W);
    if ((w.A || w.B) && !s.lora) throw new StateError('the model has no active LoRA adapter to write');
    check('A', w.A, s.lora?.A ?? []);
    check('B', w.B, s.lora?.B ?? []);
    w.W?.forEach((v, l) => this.k.write(s.W[l], v));
    if (w.W) m.baseVersion++;
    w.A?.forEach((v, l) => v && this.k.write(s.lora!.A[l]!, v));
    w.B?.forEach((v, l) => v && this.k.write(s.lora!.B[l]!, v));
  }

  /** SHA-256 (hex) of the base weights' f32 bytes, layer by layer: proves frozen means frozen. */
  async frozenHash(id: number): Promise<string> {
    const s = this.model(id).state;
    const parts = s.W.map((w) => this.k.read(w) as Float32Array);
    const all = new Uint8Array(parts.reduce((a, p) => a + p.byteLength, 0));
    let o = 0;
    for (const p of parts) { all.set(new Uint8Array(p.buffer, p.byteOffset, p.byteLength), o); o += p.byteLength; }
    const digest = await crypto.subtle.digest('SHA-256', all);
    return Array.from(new Uint8Array(digest), (x) => x.toString(16).padStart(2, '0')).join('');
  }
}

/** FNV-1a of an adapter name, mixed into its init stream's seed. */
function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return name === 'default' ? 0 : h;
}

/** Whether two sorted row lists share a row. */
function overlaps(a: Int32Array, b: Int32Array): boolean {
  for (let i = 0, j = 0; i < a.length && j < b.length;) {
    if (a[i] === b[j]) return true;
    if (a[i] < b[j]) i++; else j++;
  }
  return false;
}

function now(): number {
  return performance.now();
}

function yieldToEventLoop(): Promise<void> {
  if (typeof setImmediate === 'function') return new Promise((r) => setImmediate(r));
  return new Promise((r) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => { ch.port1.close(); r(); };
    ch.port2.postMessage(null);
  });
}

