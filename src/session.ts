// The front door. A Session owns one engine worker; datasets and models live inside it and are
// reached through small handles (Dataset, Mlp). Every call is async and may run on any thread.
//
//   const session = await Session.start();             // spawns the engine worker
//   const train = await session.dataset({ images, labels, rowLen: 784 });
//   const model = await session.mlp({ layers: [784, 1000, 2000, 10], seed: 1 });
//   await model.train(train, { steps: 468, onProgress: (p) => … });
//   await model.loraize({ r: 1, alpha: 0.5 });
//   …
//   await session.close();                              // Node needs this to exit

import * as Comlink from 'comlink';
import type { Engine } from './engine/engine.js';
import { rehydrate, StateError } from './errors.js';
import { Mlp } from './mlp.js';
import { baseModelState, decodeModelFile } from './io/checkpoint.js';
import type { DatasetInfo, DatasetSpec, EngineInfo, EngineOptions, MlpOptions, ModelStateExport } from './types.js';
import { spawnEngine } from '#spawn';

/** A started engine worker, whichever platform started it. */
export interface EngineHandle {
  remote: Comlink.Remote<Engine>;
  /** Rejects when the worker dies (crash, out of memory, terminate). */
  died: Promise<never>;
  terminate(): Promise<void>;
}

export class Session {
  private closed = false;

  private constructor(private readonly handle: EngineHandle, readonly info: EngineInfo) {}

  /** Starts an engine worker with the given kernel set (default: the fastest wasm build here). */
  static async start(opts: EngineOptions = {}): Promise<Session> {
    if (opts.inWorker === false) return Session.onThisThread(opts);
    const handle = spawnEngine();
    try {
      const info = await Promise.race([handle.remote.init(opts), handle.died]);
      return new Session(handle, info);
    } catch (e) {
      await handle.terminate();
      // WebGL in a worker needs OffscreenCanvas; a page whose browser lacks it runs WebGL here.
      const msg = e instanceof Error ? e.message : String(e);
      if (opts.backend === 'webgl' && typeof document !== 'undefined' && /no OffscreenCanvas/.test(msg)) {
        return Session.onThisThread(opts, 'the engine runs on the page\'s main thread: this browser has no OffscreenCanvas in workers, which WebGL in a worker needs (the page may stutter while training)');
      }
      throw rehydrate(e);
    }
  }

  /** The engine on the calling thread: the same API, calls resolve on this thread's event loop. */
  private static async onThisThread(opts: EngineOptions, note?: string): Promise<Session> {
    const { Engine } = await import('./engine/engine.js');
    const engine = new Engine(undefined, { cores: 1 });
    // Every method becomes async, as through Comlink.
    const remote = new Proxy(engine, {
      get: (target, key) => {
        const v = (target as unknown as Record<PropertyKey, unknown>)[key];
        return typeof v === 'function' ? (...args: unknown[]) => Promise.resolve().then(() => v.apply(target, args)) : v;
      },
    }) as unknown as Comlink.Remote<Engine>;
    const handle: EngineHandle = { remote, died: new Promise<never>(() => {}), terminate: async () => engine.close() };
    try {
      const info = await engine.init({ ...opts, threads: 1 });
      return new Session(handle, note ? { ...info, note } : info);
    } catch (e) {
      throw rehydrate(e);
    }
  }

  /**
   * Calls the engine, turning worker errors back into wasm-lora's error classes and failing
   * (instead of hanging) if the worker dies.
   */
  async call<T>(f: (engine: Comlink.Remote<Engine>) => Promise<T>): Promise<T> {
    if (this.closed) throw new StateError('this session is closed');
    try {
      return await Promise.race([f(this.handle.remote), this.handle.died]);
    } catch (e) {
      throw rehydrate(e);
    }
  }

  /**
   * Puts a dataset into the engine once; training then draws its batches there. With
   * `transfer: true` the arrays' buffers are moved to the worker instead of copied (they are
   * unusable here afterwards): one copy of the pixels fewer in memory.
   */
  async dataset(spec: DatasetSpec, opts: { transfer?: boolean } = {}): Promise<Dataset> {
    const buffers = [...new Set([spec.images.buffer, spec.labels.buffer])] as ArrayBuffer[];
    const arg = opts.transfer ? Comlink.transfer(spec, buffers) : spec;
    const info = await this.call((e) => e.addDataset(arg));
    return new Dataset(this, info);
  }

  /**
   * A seeded split stratified by class, e.g. a validation split of the training data:
   * `fraction` of each class goes to `validation`. No pixels are copied.
   */
  async split(data: Dataset, fraction: number, seed = 0): Promise<{ train: Dataset; validation: Dataset }> {
    const r = await this.call((e) => e.splitDataset(data.id, fraction, seed));
    return { train: new Dataset(this, r.train), validation: new Dataset(this, r.validation) };
  }

  async mlp(opts: MlpOptions = {}): Promise<Mlp> {
    const id = await this.call((e) => e.createMlp(opts));
    return new Mlp(this, id);
  }

  /** A model from a state exported by Mlp.exportState (or read from a checkpoint file). */
  async importModel(state: ModelStateExport): Promise<Mlp> {
    const id = await this.call((e) => e.importState(state));
    return new Mlp(this, id);
  }

  /**
   * A model from file bytes: a checkpoint continues exactly where it was saved; a model.safetensors
   * (ours or PyTorch's fc1…fcL) becomes a fresh trainable model with `opts` or the file's dropout
   * and seed. `name` (e.g. the path) prefixes error messages.
   */
  async loadModel(bytes: Uint8Array, opts: { name?: string; dropout?: number; seed?: number } = {}): Promise<Mlp> {
    const f = decodeModelFile(bytes, opts.name);
    return this.importModel(f.kind === 'checkpoint' ? f.state : baseModelState(f.base, opts));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.terminate();
  }
}

export class Dataset {
  constructor(readonly session: Session, readonly info: DatasetInfo) {}
  get id(): number {
    return this.info.id;
  }
  get count(): number {
    return this.info.count;
  }
  remove(): Promise<void> {
    return this.session.call((e) => e.removeDataset(this.info.id));
  }
}
