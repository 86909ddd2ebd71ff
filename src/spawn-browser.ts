// Browser entry of the engine: a module Worker through Comlink (README "In the browser"; Node uses
// spawn-node.ts via the "#spawn" import condition in package.json).
import * as Comlink from 'comlink';
import type { EngineHandle } from './session.js';

export function spawnEngine(): EngineHandle {
  const worker = new Worker(new URL('../workers/engine.worker.ts', import.meta.url), { type: 'module' });
  let onDeath: (e: Error) => void = () => {};
  const died = new Promise<never>((_, reject) => { onDeath = reject; });
  died.catch(() => {});
  worker.addEventListener('error', (e) => onDeath(new Error(`the engine worker failed: ${e.message}`)));
  return { remote: Comlink.wrap(worker), died, terminate: async () => worker.terminate() };
}
