// Backend selection in Node, where there is no WebGL: a forced 'webgl' is refused with the reason
// (and tfjs is never loaded), 'auto' falls back to wasm and says why. The WebGL kernel set itself
// is tested in headless Chromium (test/browser/, npm run test:browser).
import { describe, expect, it } from 'vitest';
import { Engine } from '../src/engine/engine.js';
import { OptionError } from '../src/errors.js';
import { chooseAutoBackend, AUTO_WEBGL_MIN_BATCH } from '../src/platform-browser.js';

describe('backend selection without WebGL (Node)', () => {
  it("backend 'webgl' is refused with a typed error that says why", async () => {
    const err = await new Engine().init({ backend: 'webgl' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OptionError);
    expect((err as Error).message).toMatch(/needs a browser: Node has no WebGL/);
  });

  it("backend 'auto' picks wasm and reports the reason", async () => {
    const e = new Engine();
    const info = await e.init({ backend: 'auto', batchHint: 100_000, threads: 1 });
    expect(info.backend).toBe('wasm');
    expect(info.note).toBe('auto: wasm (no WebGL2 here)');
    e.close();
  });

  it("'auto' chooses WebGL only for a hardware GPU with float32 targets and a large batch", () => {
    const gpu = { renderer: 'ANGLE (NVIDIA, NVIDIA GeForce RTX 3060 Direct3D11)', vendor: 'Google Inc. (NVIDIA)', software: false, float32: true };
    expect(chooseAutoBackend(AUTO_WEBGL_MIN_BATCH, gpu).backend).toBe('webgl');
    expect(chooseAutoBackend(AUTO_WEBGL_MIN_BATCH - 1, gpu).backend).toBe('wasm');
    expect(chooseAutoBackend(1 << 20, { ...gpu, float32: false }).backend).toBe('wasm');
    const swiftshader = { ...gpu, renderer: 'ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero)), SwiftShader driver)', software: true };
    expect(chooseAutoBackend(1 << 20, swiftshader)).toMatchObject({ backend: 'wasm', why: expect.stringMatching(/CPU renderer/) });
    expect(chooseAutoBackend(1 << 20, null).backend).toBe('wasm');
  });

  it('rejects a bad batchHint', async () => {
    await expect(new Engine().init({ backend: 'auto', batchHint: 0 })).rejects.toThrow(/batchHint/);
  });
});
