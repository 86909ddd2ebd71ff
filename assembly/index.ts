// The wasm kernel set. Every export takes pointers into memory owned by the TS arena
// (src/engine/arena.ts) and never allocates (built with --runtime stub), so one module can be
// instantiated in several workers over one shared memory.
export { gemm, gemmWorkFloats, isSkinny } from "./gemm";
export { reluDropoutForward, reluDropoutBackward, gatherRows, gatherRowsF32, adam } from "./elementwise";
export { logSoftmaxNll } from "./loss";
