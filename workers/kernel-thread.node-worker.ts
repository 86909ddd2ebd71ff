// Node entry of a kernel thread: serves slices of matrix products on the engine's shared memory.
import v8 from 'node:v8';
import { parentPort } from 'node:worker_threads';
import { serveKernelThread } from '../src/engine/threads.js';

v8.setFlagsFromString('--experimental-wasm-relaxed-simd'); // see engine.node-worker.ts
if (!parentPort) throw new Error('kernel-thread.node-worker must be started as a worker_thread');
const port = parentPort;
serveKernelThread({ postMessage: (m) => port.postMessage(m), onMessage: (l) => { port.on('message', l); } });
