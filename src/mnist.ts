// MNIST-style data: a parser for the idx format (platform neutral; the Node folder loader is in
// mnist-node.ts). Every problem is reported with the file's name and what was expected.
//
// idx layout: bytes 0-1 zero, byte 2 the element type (0x08 = unsigned byte, the only one image
// sets use), byte 3 the number of dimensions d, then d big-endian u32 sizes, then the data,
// exactly ∏sizes elements. Images are idx3 (count × rows × cols), labels idx1 (count).

import { DataFormatError } from './errors.js';

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

const TYPE_NAMES: Record<number, string> = { 0x08: 'u8', 0x09: 'i8', 0x0b: 'i16', 0x0c: 'i32', 0x0d: 'f32', 0x0e: 'f64' };

export function parseIdx(bytes: Uint8Array, name: string, expectDims: number): IdxArray {
  const fail = (what: string) => new DataFormatError(`${name}: ${what}`);
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    throw fail('is gzip-compressed; decompress it first (the Node loader does this for *.gz files)');
  }
  if (bytes.length < 4) throw fail(`is ${bytes.length} bytes long, too short for an idx header (4-byte magic number expected)`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw fail(`is not an idx file: the magic number must start with two zero bytes, found 0x${hex(bytes[0])} 0x${hex(bytes[1])}`);
  }
  if (bytes[2] !== 0x08) {
    throw fail(`has element type 0x${hex(bytes[2])} (${TYPE_NAMES[bytes[2]] ?? 'unknown'}); expected 0x08 (unsigned bytes)`);
  }
  const d = bytes[3];
  if (d !== expectDims) throw fail(`has ${d} dimensions; expected ${expectDims} (magic 0x0000080${expectDims})`);
  const headerLen = 4 + 4 * d;
  if (bytes.length < headerLen) throw fail(`is truncated inside its header (${bytes.length} bytes, ${headerLen} expected)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  let size = 1;
  for (let i = 0; i < d; i++) {
    const n = view.getUint32(4 + 4 * i, false);
    if (n === 0) throw fail(`dimension ${i} is 0`);
    dims.push(n);
    size *= n;
  }
  const have = bytes.length - headerLen;
  if (size > have) throw fail(`is truncated: its header announces ${dims.join('×')} = ${size} bytes of data, the file holds ${have}`);
  if (size < have) throw fail(`has ${have - size} bytes after the ${dims.join('×')} = ${size} bytes its header announces`);
  return { dims, data: bytes.subarray(headerLen) };
}

export interface LabeledImages {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  rows: number;
  cols: number;
}

/** Pairs an idx3 image file with an idx1 label file and checks they agree. */
export function parseImagesAndLabels(imageBytes: Uint8Array, imageName: string, labelBytes: Uint8Array,
  labelName: string, numClasses = 10): LabeledImages {
  const img = parseIdx(imageBytes, imageName, 3);
  const lab = parseIdx(labelBytes, labelName, 1);
  const [count, rows, cols] = img.dims;
  if (lab.dims[0] !== count) {
    throw new DataFormatError(`${labelName} has ${lab.dims[0]} labels but ${imageName} has ${count} images`);
  }
  for (let i = 0; i < count; i++) {
    if (lab.data[i] >= numClasses) throw new DataFormatError(`${labelName}: label ${lab.data[i]} at index ${i} is outside 0..${numClasses - 1}`);
  }
  return { images: img.data, labels: lab.data, count, rows, cols };
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}
