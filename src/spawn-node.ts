// Starts the engine worker in Node (worker_threads). Run from the TypeScript sources (npm start,
// Vitest) the worker starts with a bootstrap that registers tsx; from a compiled build, the .js.
import { Worker } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import type { EngineHandle } from './session.js';

export function spawnEngine(): EngineHandle {
  const fromSource = import.meta.url.endsWith('.ts');
  const url = fromSource
    ? new URL('../workers/engine.node-worker.dev.mjs', import.meta.url)
    : new URL('../workers/engine.node-worker.js', import.meta.url);
  const worker = new Worker(url);
  let onDeath: (e: Error) => void = () => {};
  const died = new Promise<never>((_, reject) => { onDeath = reject; });
  died.catch(() => {}); // only observed through calls racing it
  worker.on('error', (e) => onDeath(e instanceof Error ? e : new Error(String(e))));
  worker.on('exit', (code) => onDeath(new Error(`the engine worker exited (code ${code})`)));
  return {
    remote: Comlink.wrap(nodeEndpoint(worker)),
    died,
    terminate: async () => { await worker.terminate(); },
  };
}
