// Browser entry of a kernel thread (module Worker started by the engine worker).
import { serveKernelThread } from '../src/engine/threads.js';

serveKernelThread({
  postMessage: (m) => self.postMessage(m),
  onMessage: (l) => { self.addEventListener('message', (e) => l((e as MessageEvent).data)); },
});
