// Node entry of the engine worker (worker_threads). Exposes one Engine through Comlink.
import v8 from 'node:v8';
import { availableParallelism } from 'node:os';
import { parentPort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { exposedEngine } from './expose.js';
import { spawnKernelThread } from './node-threads.js';

// Node 20 only compiles relaxed-SIMD modules with this V8 flag; it must be set before the first
// compile. (It cannot go in NODE_OPTIONS.) The engine still feature-detects, so `simd: 'simd'`
// or a runtime that ignores the flag falls back to the plain SIMD build.
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');

if (!parentPort) throw new Error('engine.node-worker must be started as a worker_thread');
Comlink.expose(exposedEngine({ cores: availableParallelism(), spawnThread: spawnKernelThread }), nodeEndpoint(parentPort));
