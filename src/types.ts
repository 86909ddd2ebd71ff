// Types shared by the public API (main thread) and the engine (worker). Plain data only: these
// cross the worker boundary by structured clone.

export type BackendName = 'wasm' | 'webgl' | 'reference';
export type SimdOption = 'auto' | 'relaxed' | 'simd';

export interface EngineOptions {
  /**
   * Kernel set: 'wasm' (default, fast), 'webgl' (tfjs WebGL2 in the engine worker; browsers only,
   * loaded on demand), 'reference' (plain TS, f64 accumulation: the truth), or 'auto': WebGL only
   * on a hardware GPU (not SwiftShader / llvmpipe) when `batchHint` ≥ 1024, else wasm — without
   * downloading tfjs to decide. README "In the browser" says why.
   */
  backend?: BackendName | 'auto';
  /** For backend 'auto': the largest batch you plan to train or evaluate with (default 128). */
  batchHint?: number;
  /** wasm build: 'auto' (relaxed SIMD when the runtime has it), 'relaxed' or 'simd'. */
  simd?: SimdOption;
  /**
   * Threads for the wasm kernels: 'auto' (default: every core, os.availableParallelism() /
   * navigator.hardwareConcurrency) or a count. Needs shared memory (always in Node; in a browser
   * only when the page is cross-origin isolated); without it the engine runs one thread, with
   * identical results, and says why in `EngineInfo.note`.
   */
  threads?: number | 'auto';
  /**
   * Memory for caching the frozen first layer's product x·W_0 per model (default 64 MiB; one
   * cache may use half). Speeds up LoRA steps and repeated evaluations; 0 turns caching off.
   */
  cacheBytes?: number;
  /**
   * false: run the engine on the calling thread instead of a worker (it then blocks that thread
   * while it computes). Default true. A browser page that asks for backend 'webgl' where workers
   * have no OffscreenCanvas falls back to this by itself, and says so in `EngineInfo.note`.
   */
  inWorker?: boolean;
}

export interface EngineInfo {
  backend: BackendName;
  /** Kernel set in use, e.g. "wasm-relaxed-simd". */
  kernels: string;
  simd: 'relaxed' | 'simd' | null;
  threads: number;
  runtime: 'node' | 'browser';
  /** Why the engine runs fewer threads than asked, or what backend 'auto' decided and why. */
  note?: string;
  /** The GPU, when the backend is 'webgl' (or when 'auto' looked at it). */
  gl?: {
    /** UNMASKED_RENDERER_WEBGL where exposed, e.g. "ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device …))". */
    renderer: string;
    vendor: string;
    /** A CPU renderer (SwiftShader, llvmpipe…): correct but slow. */
    software: boolean;
    /** WebGL on an OffscreenCanvas inside the engine worker (only with backend 'webgl'). */
    offscreen?: boolean;
  };
}

export interface DatasetSpec {
  /** count × rowLen pixels, 0..255. */
  images: Uint8Array;
  /** count labels in 0..numClasses−1. */
  labels: Uint8Array;
  rowLen: number;
  numClasses?: number;
  /** Factor applied to the u8 pixels when a batch is assembled. Default 1 (raw 0..255, the reference's). */
  pixelScale?: number;
}

export interface DatasetInfo {
  id: number;
  count: number;
  rowLen: number;
  numClasses: number;
  pixelScale: number;
  classCounts: number[];
}

export interface MlpOptions {
  /** Layer widths, input first: [784, 1000, 2000, 10] is the reference model. */
  layers?: number[];
  /** Dropout probability after each hidden ReLU (0 ≤ p < 1). Default 0.3. */
  dropout?: number;
  /** Seed of every random stream of the model (init, dropout, batches). Default 0. */
  seed?: number;
}

export interface LoraConfig {
  /** Name of the adapter; several can live on one frozen base. Default "default" (PEFT's). */
  name?: string;
  /** Rank r of the adapters (PEFT: r). Default 1. */
  r?: number;
  /** Scaling numerator α; the update is (α/r)·B·A (PEFT: lora_alpha). Default 0.5. */
  alpha?: number;
  /** Layers to adapt, by module name fc1…fcL (PEFT: target_modules). Default all. */
  targetModules?: string[];
  /**
   * Initial factors. 'peft' (default, PEFT's init_lora_weights=True): A uniform ±1/√in, B zero.
   * 'reference': A zero, B standard normal — the reference script's placement (its zero factor
   * meets the input first; its α/r sits in the random factor's init, here in the PEFT scale, which
   * gives the same ΔW and the same first Adam steps). Either way ΔW = 0 at step 0.
   */
  init?: 'peft' | 'reference';
}

export interface TrainOptions {
  steps: number;
  batchSize?: number;
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Only draw training rows whose label is in this list (e.g. the worst class). */
  classes?: number[];
  /** Call onProgress every this many steps (default 10). */
  progressEvery?: number;
  /**
   * Replay: this fraction of every batch (0 ≤ f < 1) is drawn from the classes NOT in `classes`,
   * to limit forgetting of the others. Default 0.
   */
  replay?: number;
  /**
   * Evaluate on a validation dataset every `every` steps (and before the first step): the curve
   * of errors of the target class vs all other classes. Never pass the test set here.
   */
  validation?: { dataset: number; every: number; targetClass?: number };
  /**
   * Stop when the criterion has not improved for `patience` evaluations, and restore the best
   * adapter exactly. criterion 'target' (default): fewest target-class validation errors among
   * points whose other-class errors are at most `tolerance` (default 0) above their value before
   * the run. 'total': fewest validation errors overall (ties: fewer target-class errors).
   */
  earlyStopping?: { patience: number; tolerance?: number; criterion?: 'target' | 'total' };
}

/** One evaluation on the validation split during a run. */
export interface CurvePoint {
  /** Steps of this run done before the evaluation (0 = before the first step). */
  step: number;
  targetErrors: number;
  otherErrors: number;
  accuracy: number;
  loss: number;
}

export interface TrainProgress {
  step: number;
  steps: number;
  /** Mean loss over the steps since the previous report. */
  loss: number;
  stepsPerSecond: number;
  elapsedSeconds: number;
  /** The newest validation point, on steps where one was taken. */
  validation?: CurvePoint;
}

export interface TrainResult {
  steps: number;
  aborted: boolean;
  /** Loss of every completed step. */
  losses: Float32Array;
  seconds: number;
  mode: 'full' | 'lora';
  /** Validation curve (with `validation`). */
  curve: CurvePoint[];
  /** With early stopping: the restored point (its step, errors), and whether the run stopped early. */
  best: CurvePoint | null;
  stoppedEarly: boolean;
}

export interface EvalResult {
  accuracy: number;
  loss: number;
  count: number;
  /** confusion[t][p]: rows true class, columns predicted class. */
  confusion: number[][];
  /** Per class: images of that class predicted as something else. */
  mislabeled: number[];
  /** Per class: images of that class. */
  perClass: number[];
  predictions: Int32Array;
  seconds: number;
}

export interface ParamCounts {
  frozen: number;
  trainable: number;
  total: number;
}

export interface ModelInfo {
  layers: number[];
  dropout: number;
  seed: number;
  step: number;
  /** The active adapter, if any. */
  lora: { name: string; r: number; alpha: number; targetModules: string[]; init: 'peft' | 'reference' } | null;
  /** Names of all adapters on this base. */
  adapters: string[];
  /** Whether the base weights are frozen (set by the first loraize, for good). */
  frozen: boolean;
  params: ParamCounts;
}

export interface AdamStateExport {
  t: number;
  m: Float32Array[];
  v: Float32Array[];
}

/** A model's whole state (Engine.exportState / importState; checkpoints serialize this). */
export interface ModelStateExport {
  layers: number[];
  dropout: number;
  seed: number;
  /** Training steps taken: the position of every random stream. */
  step: number;
  frozen: boolean;
  /** W[l]: in×out row-major. */
  W: Float32Array[];
  /** Adam state of the base (before the first adapter), per W[l]. */
  adam: AdamStateExport | null;
  active: string | null;
  adapters: {
    name: string;
    r: number;
    alpha: number;
    init: 'peft' | 'reference';
    targetModules: string[];
    /** A[l]: r×in, B[l]: out×r; null for layers not adapted. */
    A: (Float32Array | null)[];
    B: (Float32Array | null)[];
    /** Moments in the order A, B of each adapted layer, layer by layer. */
    adam: AdamStateExport | null;
  }[];
}
