// Lets in-process tests compile the relaxed-SIMD build on Node 20 (the engine worker sets the
// same flag for itself). Must run before the first WebAssembly compile of the test file.
import v8 from 'node:v8';

v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
