// Prints the sizes of the browser build (dist/, from `npm run build:lib`) as the README's table:
// every file raw and gzipped (level 9, what a server's compression roughly gives), and what a page
// downloads on each backend. Usage: npm run build:lib && node scripts/bundle-sizes.mjs
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join, relative, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync, constants } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
if (!existsSync(join(dist, 'wasm-lora.js'))) {
  console.error('dist/wasm-lora.js is missing: run `npm run build:lib` first');
  process.exit(1);
}
const walk = (d) => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)]));

const ROLES = [
  [/^wasm-lora\.js$/, 'the public API (everything src/index.ts exports)'],
  [/engine\.worker/, 'engine worker (engine, step program, wasm kernel glue, Comlink)'],
  [/kernel-thread\.worker/, 'kernel thread worker (threaded pages only)'],
  [/platform-browser/, "GPU probe (backend 'auto' only)"],
  [/webgl-kernels/, "WebGL kernel set + tfjs-core + tfjs-backend-webgl (backend 'webgl' only)"],
  [/kernels-relaxed-threads.*\.wasm$/, 'wasm, relaxed SIMD, shared memory'],
  [/kernels-relaxed.*\.wasm$/, 'wasm, relaxed SIMD'],
  [/kernels-simd-threads.*\.wasm$/, 'wasm, SIMD, shared memory'],
  [/kernels-simd.*\.wasm$/, 'wasm, SIMD'],
];

const rows = walk(dist).map((f) => {
  const name = relative(dist, f);
  const bytes = statSync(f).size;
  const gzip = gzipSync(readFileSync(f), { level: constants.Z_BEST_COMPRESSION }).length;
  const role = ROLES.find(([re]) => re.test(name.split('/').pop()))?.[1] ?? '';
  return { name, bytes, gzip, role };
}).sort((a, b) => b.bytes - a.bytes);

const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
console.log('| file (dist/) | what | bytes | gzip |');
console.log('| --- | --- | --- | --- |');
for (const r of rows) console.log(`| \`${r.name.replace(/-[\w-]{8}(\.\w+)$/, '-…$1')}\` | ${r.role} | ${kb(r.bytes)} | ${kb(r.gzip)} |`);

const pick = (re) => rows.find((r) => re.test(r.name)) ?? { bytes: 0, gzip: 0 };
const sum = (...xs) => xs.reduce((a, x) => ({ bytes: a.bytes + x.bytes, gzip: a.gzip + x.gzip }), { bytes: 0, gzip: 0 });
const entry = pick(/^wasm-lora\.js$/), worker = pick(/engine\.worker/), thread = pick(/kernel-thread/);
const wasmThreaded = sum(entry, worker, thread, pick(/kernels-relaxed-threads.*\.wasm$/));
const wasmSingle = sum(entry, worker, pick(/kernels-relaxed-(?!threads).*\.wasm$/));
const webgl = sum(entry, worker, pick(/webgl-kernels/));
console.log('');
console.log(`a page on wasm, threaded (cross-origin isolated): ${kb(wasmThreaded.bytes)} (${kb(wasmThreaded.gzip)} gzipped)`);
console.log(`a page on wasm, one worker:                       ${kb(wasmSingle.bytes)} (${kb(wasmSingle.gzip)} gzipped)`);
console.log(`a page on webgl:                                  ${kb(webgl.bytes)} (${kb(webgl.gzip)} gzipped)`);
