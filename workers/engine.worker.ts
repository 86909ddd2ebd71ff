// Browser entry of the engine worker (module Worker). Exposes one Engine through Comlink; kernel
// threads are module Workers started from here (nested workers) when the page is cross-origin
// isolated.
import * as Comlink from 'comlink';
import { exposedEngine } from './expose.js';

const spawnThread = () => {
  const w = new Worker(new URL('./kernel-thread.worker.ts', import.meta.url), { type: 'module' });
  return {
    postMessage: (m: unknown) => w.postMessage(m),
    onMessage: (l: (m: unknown) => void) => { w.addEventListener('message', (e) => l(e.data)); },
    onError: (l: (e: Error) => void) => { w.addEventListener('error', (e) => l(new Error(e.message))); },
    terminate: () => w.terminate(),
  };
};

Comlink.expose(exposedEngine({
  cores: navigator.hardwareConcurrency || 1,
  spawnThread: globalThis.crossOriginIsolated ? spawnThread : undefined,
}));
