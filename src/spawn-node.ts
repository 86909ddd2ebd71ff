// Starts the engine worker in Node (worker_threads); see workers/node-threads.ts for how.
import { startNodeWorker } from '../workers/node-threads.js';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import type { EngineHandle } from './session.js';
import type { Engine } from './engine/engine.js';

export function spawnEngine(): EngineHandle {
  const worker = startNodeWorker('engine.node-worker');
  let onDeath: (e: Error) => void = () => {};
  const died = new Promise<never>((_, reject) => { onDeath = reject; });
  died.catch(() => {}); // only observed through calls racing it
  worker.on('error', (e) => onDeath(e instanceof Error ? e : new Error(String(e))));
  worker.on('exit', (code) => onDeath(new Error(`the engine worker exited (code ${code})`)));
  const remote = Comlink.wrap<Engine>(nodeEndpoint(worker));
  return {
    remote,
    died,
    terminate: async () => {
      await Promise.race([remote.close(), new Promise((r) => setTimeout(r, 1000))]).catch(() => {});
      await worker.terminate();
    },
  };
}
