// The demo page (demo/): `npm run demo` (dev server), `npm run build` (→ build/demo) and
// `npm run preview` (serves build/demo). Both servers send COOP same-origin + COEP require-corp,
// so the page is cross-origin isolated and the wasm kernels run on every core. MNIST comes from
// build/demo-public/mnist (gzipped by scripts/demo-data.mjs, which npm's pre-scripts run): the
// site is self-contained, nothing is fetched from another origin.
import { join } from 'node:path';
import { defineConfig } from 'vite';

const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  root: join(import.meta.dirname, 'demo'),
  base: './', // relative URLs: the built folder works under any path
  publicDir: join(import.meta.dirname, 'build/demo-public'),
  server: { headers: ISOLATION_HEADERS },
  preview: { headers: ISOLATION_HEADERS },
  worker: { format: 'es' }, // the engine worker starts nested module workers (kernel threads)
  optimizeDeps: { include: ['comlink'] }, // pre-bundled up front: no dev-server reload when the worker first imports it
  build: {
    outDir: join(import.meta.dirname, 'build/demo'),
    emptyOutDir: true,
    target: 'es2022',
    assetsInlineLimit: 0, // the wasm builds stay files: a page fetches only the one it uses
    reportCompressedSize: false,
  },
});
