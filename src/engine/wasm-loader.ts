// Finds and compiles the best wasm kernel build this runtime supports. The four builds (plain /
// relaxed SIMD × private / shared memory) come from the same AssemblyScript source
// (asconfig.json). URLs are literal `new URL(…, import.meta.url)` so bundlers (Vite) emit the files.

import type { SimdFlavour } from './wasm-kernels.js';

// (module (func (result v128) v128.const 0 v128.const 0 v128.const 0 f32x4.relaxed_madd))
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b,
  0x03, 0x02, 0x01, 0x00,
  0x0a, 0x3d, 0x01, 0x3b, 0x00,
  0xfd, 0x0c, ...new Array(16).fill(0),
  0xfd, 0x0c, ...new Array(16).fill(0),
  0xfd, 0x0c, ...new Array(16).fill(0),
  0xfd, 0x85, 0x02, 0x0b,
]);
// Same module with f32x4.add (0xfd 0xe4 0x01) instead: plain SIMD, two operands.
const SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b,
  0x03, 0x02, 0x01, 0x00,
  0x0a, 0x2b, 0x01, 0x29, 0x00,
  0xfd, 0x0c, ...new Array(16).fill(0),
  0xfd, 0x0c, ...new Array(16).fill(0),
  0xfd, 0xe4, 0x01, 0x0b,
]);

export function supportsSimd(): boolean {
  return WebAssembly.validate(SIMD_PROBE);
}
export function supportsRelaxedSimd(): boolean {
  return WebAssembly.validate(RELAXED_PROBE);
}

export function wasmUrl(flavour: SimdFlavour, threads: boolean): URL {
  if (threads) {
    return flavour === 'relaxed'
      ? new URL('../../build/wasm/kernels-relaxed-threads.wasm', import.meta.url)
      : new URL('../../build/wasm/kernels-simd-threads.wasm', import.meta.url);
  }
  return flavour === 'relaxed'
    ? new URL('../../build/wasm/kernels-relaxed.wasm', import.meta.url)
    : new URL('../../build/wasm/kernels-simd.wasm', import.meta.url);
}

export function pickFlavour(requested: 'auto' | SimdFlavour): SimdFlavour {
  if (!supportsSimd()) {
    throw new Error('this runtime has no WebAssembly SIMD (fixed-width, 128-bit); wasm-lora needs it (Node ≥ 16.4, Chrome ≥ 91, Firefox ≥ 89, Safari ≥ 16.4)');
  }
  const relaxed = supportsRelaxedSimd();
  if (requested === 'relaxed' && !relaxed) {
    throw new Error('relaxed SIMD was requested but this runtime does not support it (Node 20 needs the V8 flag --experimental-wasm-relaxed-simd); use simd: "simd" or "auto"');
  }
  return requested === 'auto' ? (relaxed ? 'relaxed' : 'simd') : requested;
}

export async function compileKernels(flavour: SimdFlavour, threads = false): Promise<WebAssembly.Module> {
  const url = wasmUrl(flavour, threads);
  if (url.protocol === 'file:') {
    // Node only. The module name is a variable so browser bundles neither resolve nor stub it.
    const fsModule = 'node:fs/promises';
    const { readFile } = (await import(/* @vite-ignore */ fsModule)) as typeof import('node:fs/promises');
    return WebAssembly.compile(await readFile(url));
  }
  const response = await fetch(url);
  if (!response.ok) throw new Error(`could not fetch the wasm kernels at ${url}: HTTP ${response.status}`);
  // Streaming compilation needs the server to say Content-Type: application/wasm; a server that
  // does not (some static hosts) still gets the kernels, compiled from the downloaded bytes.
  if (typeof WebAssembly.compileStreaming === 'function' && /^application\/wasm\b/.test(response.headers.get('content-type') ?? '')) {
    return WebAssembly.compileStreaming(response);
  }
  return WebAssembly.compile(await response.arrayBuffer());
}
