// What both worker entries expose: the Engine, plus releasing the progress-callback proxy that
// Comlink hands in for each run (otherwise its MessagePort would keep the worker alive).
import * as Comlink from 'comlink';
import { Engine, type EnginePlatform, type ProgressCallback } from '../src/engine/engine.js';
import type { TrainOptions, TrainResult } from '../src/types.js';

export class WorkerEngine extends Engine {
  override async train(id: number, datasetId: number, opts: TrainOptions, runId = 0, onProgress?: ProgressCallback): Promise<TrainResult> {
    try {
      return await super.train(id, datasetId, opts, runId, onProgress);
    } finally {
      (onProgress as unknown as Partial<Comlink.Remote<unknown>> | undefined)?.[Comlink.releaseProxy]?.();
    }
  }
}

export function exposedEngine(platform: EnginePlatform): WorkerEngine {
  return new WorkerEngine(undefined, platform);
}
