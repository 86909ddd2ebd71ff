// Handle to a model inside the engine worker: the TF.js/PEFT-shaped surface users call.
import * as Comlink from 'comlink';
import { AbortError, StateError } from './errors.js';
import type { Dataset, Session } from './session.js';
import type { EvalResult, LoraConfig, ModelInfo, ModelStateExport, ParamCounts, TrainOptions, TrainProgress, TrainResult } from './types.js';
import { encodeBaseModel, encodeCheckpoint, type AdapterStateExport } from './io/checkpoint.js';
import { adapterFromPeft, encodePeft, type PeftAdapter, type PeftFiles } from './io/peft.js';

export interface TrainCallOptions extends Omit<TrainOptions, 'validation'> {
  /** Validation curve: evaluate on `dataset` (a split of the training data, never the test set) every `every` steps. */
  validation?: { dataset: Dataset; every: number; targetClass?: number };
  /** Called every `progressEvery` steps; training waits for a returned promise. */
  onProgress?: (p: TrainProgress) => void | Promise<void>;
  /** Stops the run between two steps; the promise then rejects with AbortError. */
  signal?: AbortSignal;
}

let nextRunId = 1;

export class Mlp {
  constructor(readonly session: Session, readonly id: number) {}

  private check(data: Dataset): void {
    if (data.session !== this.session) throw new StateError('this dataset belongs to another session than the model');
  }

  /**
   * Trains with Adam for `steps` steps on batches drawn uniformly with replacement from `data`
   * (only rows of `classes` if given). Before loraize() this trains every weight; after, only the
   * adapters. Rejects with AbortError when `signal` fires; the model then holds the state after the
   * last completed step (error.stepsCompleted), never a half-applied one.
   */
  async train(data: Dataset, opts: TrainCallOptions): Promise<TrainResult> {
    this.check(data);
    const { onProgress, signal, validation, ...others } = opts;
    if (validation) this.check(validation.dataset);
    const rest: TrainOptions = validation ? { ...others, validation: { ...validation, dataset: validation.dataset.id } } : others;
    if (signal?.aborted) throw new AbortError('training was aborted before it started', 0);
    const runId = nextRunId++;
    const onAbort = () => { void this.session.call((e) => e.abort(runId)).catch(() => {}); };
    signal?.addEventListener('abort', onAbort);
    try {
      const result = await this.session.call((e) =>
        e.train(this.id, data.id, rest, runId, onProgress ? Comlink.proxy(onProgress) : undefined));
      if (result.aborted) {
        const err = new AbortError(`training was aborted after ${result.steps} of ${rest.steps} steps; the model holds the state after step ${result.steps}`, result.steps);
        throw Object.assign(err, { result });
      }
      return result;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Accuracy, loss, confusion matrix and per-class mislabeled counts (dropout off). */
  evaluate(data: Dataset, opts: { batchSize?: number } = {}): Promise<EvalResult> {
    this.check(data);
    return this.session.call((e) => e.evaluate(this.id, data.id, opts.batchSize));
  }

  /**
   * Adds a LoRA adapter (named `config.name`, default "default"), makes it active and freezes the
   * base weights for good (PEFT: get_peft_model / add_adapter).
   */
  loraize(config: LoraConfig = {}): Promise<ModelInfo> {
    return this.session.call((e) => e.loraize(this.id, config));
  }

  /** Switches adapters without copying the base (PEFT: set_adapter); null = the base alone. */
  setActiveAdapter(name: string | null): Promise<ModelInfo> {
    return this.session.call((e) => e.setActiveAdapter(this.id, name));
  }

  deleteAdapter(name: string): Promise<ModelInfo> {
    return this.session.call((e) => e.deleteAdapter(this.id, name));
  }

  /** A new model with the adapter merged into the weights (PEFT: merge_and_unload); this one is untouched. */
  async merge(adapter?: string): Promise<Mlp> {
    const id = await this.session.call((e) => e.merge(this.id, adapter));
    return new Mlp(this.session, id);
  }

  /** The whole state (weights, adapters, Adam moments, RNG step): what checkpoints hold. */
  exportState(): Promise<ModelStateExport> {
    return this.session.call((e) => e.exportState(this.id));
  }

  info(): Promise<ModelInfo> {
    return this.session.call((e) => e.modelInfo(this.id));
  }

  async paramCounts(): Promise<ParamCounts> {
    return (await this.info()).params;
  }

  /** SHA-256 of the base weights' bytes: equal before and after fine-tuning. */
  frozenHash(): Promise<string> {
    return this.session.call((e) => e.frozenHash(this.id));
  }

  /** Logits for n rows of already-scaled inputs. */
  predict(x: Float32Array, n: number): Promise<Float32Array> {
    return this.session.call((e) => e.predict(this.id, x, n));
  }

  /** Copies of the weights: W[l] (in×out), A[l] (r×in), B[l] (out×r). */
  weights(): Promise<{ W: Float32Array[]; A: (Float32Array | null)[]; B: (Float32Array | null)[] }> {
    return this.session.call((e) => e.readWeights(this.id));
  }

  dispose(): Promise<void> {
    return this.session.call((e) => e.disposeModel(this.id));
  }

  // ---- files (bytes; Node file helpers: src/io/files-node.ts; formats: README "Files") ----------

  /** A checkpoint file's bytes: the whole state, bit-exact (Session.loadModel reads it back). */
  async toCheckpoint(extraMetadata?: Record<string, string>): Promise<Uint8Array> {
    return encodeCheckpoint(await this.exportState(), extraMetadata);
  }

  /** model.safetensors bytes: the base weights in PyTorch's layout, fc<l>.weight (out, in). */
  async toSafetensors(): Promise<Uint8Array> {
    const [info, w] = await Promise.all([this.info(), this.weights()]);
    return encodeBaseModel({ layers: info.layers, W: w.W, dropout: info.dropout, seed: info.seed });
  }

  /** The PEFT files (adapter_config.json, adapter_model.safetensors, model.safetensors) of one adapter. */
  async toPeft(opts: { adapter?: string; baseModelNameOrPath?: string | null } = {}): Promise<PeftFiles> {
    return encodePeft(await this.exportState(), opts);
  }

  /**
   * A new model: this one's frozen base and adapters plus `adapter`, made active (how imported
   * adapters get in). This model is untouched; dispose it if no longer needed.
   */
  async withAdapter(adapter: AdapterStateExport): Promise<Mlp> {
    const s = await this.exportState();
    if (s.adapters.some((a) => a.name === adapter.name)) throw new StateError(`the model already has an adapter named "${adapter.name}"`);
    return this.session.importModel({ ...s, frozen: true, adam: null, adapters: [...s.adapters, adapter], active: adapter.name });
  }

  /** withAdapter for a PEFT adapter (io/peft.ts parsePeftAdapter), checked against this model's layers. */
  async addPeftAdapter(p: PeftAdapter, name = 'default'): Promise<Mlp> {
    return this.withAdapter(adapterFromPeft(p, (await this.info()).layers, name));
  }
}
