// Starting Node worker_threads for wasm-lora's workers, from the .ts sources (through the tsx
// bootstrap) or from a compiled build (.js beside this file).
import { Worker } from 'node:worker_threads';
import type { ThreadEndpoint } from '../src/engine/threads.js';

const fromSource = import.meta.url.endsWith('.ts');

/** `name` without extension, e.g. "engine.node-worker". */
export function startNodeWorker(name: string): Worker {
  return fromSource
    ? new Worker(new URL('./node-dev-bootstrap.mjs', import.meta.url), { workerData: { entry: `./${name}.ts` } })
    : new Worker(new URL(`./${name}.js`, import.meta.url));
}

export function spawnKernelThread(): ThreadEndpoint {
  // From the sources: the bundle scripts/build-wasm.mjs makes (plain JS, no tsx in the thread).
  const w = fromSource
    ? new Worker(new URL('../build/workers/kernel-thread.node-worker.mjs', import.meta.url))
    : startNodeWorker('kernel-thread.node-worker');
  return {
    postMessage: (m) => w.postMessage(m),
    onMessage: (l) => { w.on('message', l); },
    onError: (l) => { w.on('error', l); },
    terminate: () => { void w.terminate(); },
  };
}
