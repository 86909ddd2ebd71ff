// Memory over a long run: trains the reference model for N epochs (default 10) in a Session and
// prints the process RSS (all threads: the engine worker and kernel threads live in this process)
// after each epoch, plus the engine's wasm memory. Flat numbers mean no leak.
//
//   npx tsx bench/memory.ts [epochs] [--threads N]
import { loadMnist } from '../src/mnist-node.js';
import { Session } from '../src/session.js';

const epochs = Number(process.argv[2] ?? 10);
const ti = process.argv.indexOf('--threads');
const threads = ti > 0 ? Number(process.argv[ti + 1]) : 'auto';
const mb = (b: number) => (b / 2 ** 20).toFixed(0);

const { train, test } = await loadMnist();
const session = await Session.start({ threads });
console.log(`engine: ${session.info.kernels}, ${session.info.threads} threads; RSS at start ${mb(process.memoryUsage().rss)} MB`);
const d = await session.dataset({ images: train.images, labels: train.labels, rowLen: 784 });
const t = await session.dataset({ images: test.images, labels: test.labels, rowLen: 784 });
const model = await session.mlp({ seed: 0 });
const rss: number[] = [];
for (let e = 1; e <= epochs; e++) {
  const r = await model.train(d, { steps: 468 });
  const ev = await model.evaluate(t);
  rss.push(process.memoryUsage().rss);
  console.log(`epoch ${String(e).padStart(2)}: ${r.seconds.toFixed(1)} s, test accuracy ${(100 * ev.accuracy).toFixed(2)} %, RSS ${mb(rss.at(-1)!)} MB`);
}
console.log(`RSS after epoch 1: ${mb(rss[0])} MB, after epoch ${epochs}: ${mb(rss.at(-1)!)} MB, peak ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
await session.close();
