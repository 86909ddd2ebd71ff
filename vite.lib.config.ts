// The browser build of the library: dist/wasm-lora.js (the ES module entry, `import { Session }
// from 'wasm-lora'`), the engine worker and kernel-thread worker chunks, the four wasm builds as
// separate files (a page fetches only the one it uses), and tfjs + the WebGL kernel set as a chunk
// that the engine worker imports only for backend 'webgl'. Every URL is relative to the file that
// uses it (base './', new URL(…, import.meta.url)), so the folder works wherever it is served from
// and a consumer's bundler (Vite, …) can re-bundle it.
//
// Not Vite's library mode: it inlines every asset as a base64 data: URL, which would put all four
// wasm builds into the worker chunk. This is an ordinary build of one entry that keeps its exports.
// Run: npm run build:lib; `node scripts/bundle-sizes.mjs` prints the table in README.md.
import { defineConfig, type Plugin } from 'vite';

/**
 * Vite writes the URLs of emitted files as `new URL(new URL('x', import.meta.url).href,
 * '' + import.meta.url)`, a form that a consumer's bundler copies as an opaque asset instead of
 * following it: the engine worker would be copied without its wasm files and its tfjs chunk.
 * This rewrites them to the canonical `new URL('./x', import.meta.url)` (and `{ type: "module" }`
 * for workers), which Vite, webpack 5, Parcel, esbuild and Rollup plugins re-bundle. The test
 * test/browser/packaged.e2e.ts builds a fresh Vite app against the packed library to prove it.
 */
function canonicalUrls(): Plugin {
  const rewrite = (code: string) => code
    .replace(/new URL\(\s*(?:\/\*[^*]*\*\/\s*)?new URL\(([`'"])([^`'"]+)\1,\s*import\.meta\.url\)\.href,\s*(?:``|''|"")\s*\+\s*import\.meta\.url\)/g,
      (_m, _q, path: string) => `new URL(${JSON.stringify(path.startsWith('.') ? path : `./${path}`)},import.meta.url)`)
    .replace(/\{type:`module`\}/g, '{type:"module"}');
  return {
    name: 'wasm-lora:canonical-urls',
    enforce: 'post',
    generateBundle(_options, bundle) {
      for (const file of Object.values(bundle)) {
        if (!file.fileName.endsWith('.js')) continue;
        if (file.type === 'chunk') file.code = rewrite(file.code);
        else if (typeof file.source === 'string') file.source = rewrite(file.source);
        else file.source = rewrite(new TextDecoder().decode(file.source));
        // A chunk that imports a worker's entry chunk would run that worker's entry again when
        // the two URLs differ (Vite's dev server adds queries): see src/engine/webgl-kernels.ts.
        const code = file.type === 'chunk' ? file.code : String(file.source);
        const entry = /\bfrom\s*["'`]\.\/((?:engine|kernel-thread)\.worker-[^"'`]+)["'`]/.exec(code);
        if (entry) this.error(`${file.fileName} imports the worker entry chunk ${entry[1]}: move the shared code out of the worker's static imports`);
      }
    },
  };
}

export default defineConfig({
  base: './',
  plugins: [canonicalUrls()],
  publicDir: false,
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    copyPublicDir: false,
    assetsInlineLimit: 0,
    modulePreload: false,
    rolldownOptions: {
      input: { 'wasm-lora': 'src/index.ts' },
      preserveEntrySignatures: 'strict',
      output: { format: 'es', entryFileNames: '[name].js' },
    },
  },
  worker: { format: 'es' },
});
