// What backend 'auto' needs to know about the GPU, found without loading tfjs: one throw-away
// WebGL2 context on an OffscreenCanvas (in the engine worker) or a page canvas, its renderer
// string, and whether it can render to float32 textures. Safe to call anywhere: in Node it
// finds no WebGL and returns null.

/** Renderer names of CPU implementations of WebGL: correct, but never faster than the wasm kernels. */
export const SOFTWARE_RENDERER = /swiftshader|llvmpipe|softpipe|lavapipe|software|basic render/i;

/**
 * Backend 'auto' picks WebGL only on a hardware GPU and for batches of at least this many rows.
 * Not measured: this machine has no GPU (only SwiftShader, where WebGL is 10–40× slower than the
 * wasm kernels at every batch size). A batch-128 step of the reference model is ≈ 2 GFLOP, which
 * the threaded wasm kernels run in ≈ 50 ms on two cores; an integrated GPU through tfjs WebGL
 * reaches a few hundred GFLOP/s only on large products, plus a fixed per-op cost of roughly
 * 0.1–0.5 ms × ~40 ops per step. 1024 rows is where that fixed cost stops dominating; measure on
 * the target GPU and force backend 'webgl' or 'wasm' if it is wrong there.
 */
export const AUTO_WEBGL_MIN_BATCH = 1024;

export interface GpuProbe {
  renderer: string;
  vendor: string;
  software: boolean;
  /** EXT_color_buffer_float: float32 render targets (without them WebGL results would be wrong). */
  float32: boolean;
}

export function probeWebGL(): GpuProbe | null {
  try {
    const canvas = typeof OffscreenCanvas !== 'undefined' ? new OffscreenCanvas(1, 1)
      : typeof document !== 'undefined' ? document.createElement('canvas') : null;
    if (!canvas) return null;
    const gl = canvas.getContext('webgl2') as WebGL2RenderingContext | null;
    if (!gl) return null;
    const dbg = gl.getExtension('WEBGL_debug_renderer_info');
    const renderer = String(gl.getParameter(dbg ? dbg.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
    const vendor = String(gl.getParameter(dbg ? dbg.UNMASKED_VENDOR_WEBGL : gl.VENDOR));
    const float32 = !!gl.getExtension('EXT_color_buffer_float');
    gl.getExtension('WEBGL_lose_context')?.loseContext();
    return { renderer, vendor, software: SOFTWARE_RENDERER.test(renderer), float32 };
  } catch {
    return null;
  }
}

/** The decision of backend 'auto', with the reason (reported in EngineInfo.note). */
export function chooseAutoBackend(batchHint: number, probe: GpuProbe | null = probeWebGL()): { backend: 'wasm' | 'webgl'; why: string; probe: GpuProbe | null } {
  if (!probe) return { backend: 'wasm', why: 'auto: wasm (no WebGL2 here)', probe };
  if (probe.software) return { backend: 'wasm', why: `auto: wasm (the WebGL renderer "${probe.renderer}" is a CPU renderer)`, probe };
  if (!probe.float32) return { backend: 'wasm', why: `auto: wasm (the GPU "${probe.renderer}" cannot render to float32 textures)`, probe };
  if (batchHint < AUTO_WEBGL_MIN_BATCH) return { backend: 'wasm', why: `auto: wasm (batchHint ${batchHint} < ${AUTO_WEBGL_MIN_BATCH}, where WebGL's per-op cost dominates)`, probe };
  return { backend: 'webgl', why: `auto: webgl (hardware GPU "${probe.renderer}", batchHint ${batchHint} ≥ ${AUTO_WEBGL_MIN_BATCH})`, probe };
}
