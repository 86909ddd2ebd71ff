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

// Firefox 153: the threaded engine stalls now and then (a kernel-thread job never reported done;
// found by test/demo/firefox.e2e.ts, not understood yet), so Firefox runs one thread for now.
const firefox = /\bFirefox\//.test(navigator.userAgent);
Comlink.expose(exposedEngine({
  cores: navigator.hardwareConcurrency || 1,
  spawnThread: globalThis.crossOriginIsolated && !firefox ? spawnThread : undefined,
  noThreadsReason: firefox
    ? 'kernel threads are off in Firefox for now (a rare stall seen in Firefox 153 is being investigated)'
    : 'the page is not cross-origin isolated (COOP same-origin + COEP require-corp), so there is no shared memory',
}));
