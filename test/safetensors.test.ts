// The safetensors reader and writer: round trips (hand-picked and property-based), a corpus of
// hostile files built in memory (each must fail with its specific code), time-bounded fuzzing
// (only SafetensorsError may escape the reader), alignment, and a real file on disk.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DataFormatError, OptionError, ShapeError } from '../src/errors.js';
import {
  DTYPES, type Dtype, parseSafetensors, SafetensorsError, type SafetensorsErrorCode, serializeSafetensors,
  type TensorInput,
} from '../src/io/safetensors.js';

const enc = new TextEncoder();
const SIZE: Record<Dtype, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, F8_E4M3: 1, F8_E5M2: 1, I64: 8, I32: 4, I16: 2, I8: 1, U64: 8,
  U32: 4, U16: 2, U8: 1, BOOL: 1,
};

/** A file from a header (text or raw bytes), a data buffer (bytes or a length of zeros), and
 *  optionally a lying length prefix. */
function craft(header: string | Uint8Array, data: Uint8Array | number = 0, length?: bigint): Uint8Array {
  const h = typeof header === 'string' ? enc.encode(header) : header;
  const d = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + h.length + d.length);
  new DataView(out.buffer).setBigUint64(0, length ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(d, 8 + h.length);
  return out;
}

/** One tensor entry as header JSON text (offsets as raw text so unsafe numbers stay exact). */
const entry = (dtype: string, shape: string | number[], begin: number | string, end: number | string) =>
  `{"dtype":"${dtype}","shape":${typeof shape === 'string' ? shape : JSON.stringify(shape)},"data_offsets":[${begin},${end}]}`;

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error, got none');
}

function expectCode(fn: () => unknown, code: SafetensorsErrorCode, ...fragments: string[]): SafetensorsError {
  const e = caught(fn);
  expect(e).toBeInstanceOf(SafetensorsError);
  expect(e).toBeInstanceOf(DataFormatError);
  const err = e as SafetensorsError;
  expect({ code: err.code, message: err.message }).toMatchObject({ code });
  expect(err.name).toBe('SafetensorsError');
  for (const f of fragments) expect(err.message).toContain(f);
  return err;
}

const le32 = (values: number[]) => new Uint8Array(new Float32Array(values).buffer);

describe('round trips', () => {
  it('several dtypes, scalar and zero-size tensors, metadata', () => {
    const f32 = new Float32Array([1.5, -2, 3.25, 0, -0, Infinity]);
    const input: Record<string, TensorInput> = {
      'b.f32': { dtype: 'F32', shape: [2, 3], data: f32 },
      'a.f64': { dtype: 'F64', shape: [2], data: new Float64Array([Math.PI, -1e300]) },
      half: { dtype: 'F16', shape: [3], data: new Uint16Array([0x3c00, 0xc000, 0x7bff]) },
      brain: { dtype: 'BF16', shape: [2], data: new Uint16Array([0x3f80, 0xc0a0]) },
      ints: { dtype: 'I32', shape: [1, 2], data: new Int32Array([-7, 2 ** 31 - 1]) },
      longs: { dtype: 'I64', shape: [2], data: new BigInt64Array([-1n, 2n ** 62n]) },
      bytes: { dtype: 'U8', shape: [3], data: new Uint8Array([0, 128, 255]) },
      flags: { dtype: 'BOOL', shape: [2], data: new Uint8Array([1, 0]) },
      scalar: { dtype: 'F32', shape: [], data: new Float32Array([42]) },
      empty: { dtype: 'F32', shape: [0], data: new Float32Array(0) },
      'empty.3d': { dtype: 'I16', shape: [3, 0, 2], data: new Int16Array(0) },
    };
    const metadata = Object.fromEntries([['format', 'pt'], ['__proto__', 'an ordinary key'], ['ü "q" \\', 'ok\n']]);
    const file = serializeSafetensors(input, metadata);

    // Layout of the reference writer: data starts at a multiple of 8, header padded with spaces.
    const n = Number(new DataView(file.buffer).getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0);
    const header = new TextDecoder().decode(file.subarray(8, 8 + n));
    expect(header).toMatch(/^\{.*\} *$/s);

    const { tensors, metadata: md } = parseSafetensors(file);
    expect(md).toEqual(metadata);
    expect(Object.hasOwn(md, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(md)).toBe(Object.prototype);
    // Header order is name order.
    expect([...tensors.keys()]).toEqual(Object.keys(input).sort());
    for (const [name, t] of Object.entries(input)) {
      const v = tensors.get(name)!;
      expect(v.dtype).toBe(t.dtype);
      expect(v.shape).toEqual(t.shape);
      expect(v.bytes).toEqual(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    }
    expect(tensors.get('b.f32')!.toFloat32()).toEqual(f32);
    expect(Object.is(tensors.get('b.f32')!.toFloat32()[4], -0)).toBe(true);
    expect(tensors.get('a.f64')!.toFloat32()).toEqual(new Float32Array([Math.PI, -Infinity]));
    expect([...tensors.get('half')!.toFloat32()]).toEqual([1, -2, 65504]);
    expect([...tensors.get('brain')!.toFloat32()]).toEqual([1, -5]);
    expect([...tensors.get('scalar')!.toFloat32()]).toEqual([42]);
    expect(tensors.get('empty')!.toFloat32()).toHaveLength(0);
    expectCode(() => tensors.get('ints')!.toFloat32(), 'unsupported-dtype', '"ints"', 'I32', 'F32, F64, F16 and BF16');

    // Deterministic: input key order does not matter, and re-serializing what was read is identical.
    const shuffled = Object.fromEntries(Object.entries(input).reverse());
    expect(serializeSafetensors(shuffled, metadata)).toEqual(file);
    const again = Object.fromEntries([...tensors].map(([k, v]) => [k, { dtype: v.dtype, shape: v.shape, data: v.bytes }]));
    expect(serializeSafetensors(again, md)).toEqual(file);
  });

  it('no tensors, no metadata: an 8-byte-aligned "{}" header and nothing else', () => {
    const file = serializeSafetensors({});
    expect(file).toEqual(craft('{}      '));
    const { tensors, metadata } = parseSafetensors(file);
    expect(tensors.size).toBe(0);
    expect(metadata).toEqual({});
  });

  it('reads the example file of the reference documentation, and headers without padding', () => {
    // From the Rust crate's docs: header length 0x3c, no padding, I32 [2, 2] of zeros.
    const doc = craft('{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}', 16);
    expect(doc[0]).toBe(0x3c);
    const t = parseSafetensors(doc).tensors.get('test')!;
    expect(t).toMatchObject({ dtype: 'I32', shape: [2, 2] });
    expect(t.bytes).toEqual(new Uint8Array(16));
  });

  it('accepts what the format allows: JSON whitespace, escapes, unsorted entries, zero-size anywhere', () => {
    const header = `{\n  "b" : ${entry('U8', [2], 2, 4)},\t"z0": ${entry('F32', [0], 4, 4)},\r\n`
      + `"a\\u0062\\/\\"": ${entry('U8', [2], 0, 2)}, "z1": ${entry('F64', [0, 5], 0, 0)},`
      + `"__proto__": ${entry('U8', [], 4, 5)}, "\\ud83d\\ude00": ${entry('U8', '[ ]', 5, 6)} }  \n `;
    const { tensors } = parseSafetensors(craft(header, new Uint8Array([1, 2, 3, 4, 5, 6])));
    expect([...tensors.keys()]).toEqual(['b', 'z0', 'ab/"', 'z1', '__proto__', '😀']);
    expect([...tensors.get('ab/"')!.bytes]).toEqual([1, 2]);
    expect([...tensors.get('b')!.bytes]).toEqual([3, 4]);
    expect([...tensors.get('__proto__')!.bytes]).toEqual([5]);
    expect([...tensors.get('😀')!.bytes]).toEqual([6]);
    expect(tensors.get('z1')!.shape).toEqual([0, 5]);
  });
});

describe('toFloat32 conversions', () => {
  it('F16: all 65536 bit patterns against the IEEE formula', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const got = parseSafetensors(serializeSafetensors({ h: { dtype: 'F16', shape: [65536], data: all } }))
      .tensors.get('h')!.toFloat32();
    const gotBits = new Uint32Array(got.buffer);
    for (let h = 0; h < 65536; h++) {
      const sign = h & 0x8000 ? -1 : 1;
      const exp = (h >> 10) & 0x1f;
      const mant = h & 0x3ff;
      const want = exp === 0 ? sign * mant * 2 ** -24 : exp === 31 ? (mant ? NaN : sign * Infinity) : sign * (1 + mant / 1024) * 2 ** (exp - 15);
      if (Number.isNaN(want)) {
        expect(Number.isNaN(got[h])).toBe(true);
        expect(gotBits[h] & 0x3fffff).toBe((mant << 13) & 0x3fffff); // payload kept
      } else if (!Object.is(got[h], want)) {
        expect.fail(`F16 0x${h.toString(16)}: got ${got[h]}, want ${want}`);
      }
    }
  });

  it('BF16: all 65536 bit patterns are the upper halves of F32', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const got = parseSafetensors(serializeSafetensors({ h: { dtype: 'BF16', shape: [65536], data: all } }))
      .tensors.get('h')!.toFloat32();
    expect(new Uint32Array(got.buffer)).toEqual(new Uint32Array(65536).map((_, i) => i << 16));
  });
});

// fast-check arbitraries: names with the characters that stress JSON (quotes, backslashes,
// controls, U+2028, astral), never a lone surrogate (unrepresentable in a strict reader) or the
// reserved "__metadata__".
const nastyUnit = fc.constantFrom('"', '\\', '/', '\u0000', '\n', '\u001f', '\u2028', 'é', '😀', 'a', '_', '{', ':', ' ');
const text = fc.oneof(fc.string({ unit: nastyUnit, maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 12 }), fc.string({ maxLength: 12 }));
const tensorName = text.filter((s) => s !== '__metadata__');
const shapeArb = fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 4 });
const f32Tensor = shapeArb.chain((shape) => {
  const n = shape.reduce((a, b) => a * b, 1);
  return fc.float32Array({ minLength: n, maxLength: n }).map((data): TensorInput => ({ dtype: 'F32', shape, data }));
});
const anyTensor = fc.tuple(fc.constantFrom(...DTYPES), shapeArb).chain(([dtype, shape]) => {
  const n = shape.reduce((a, b) => a * b, 1) * SIZE[dtype];
  return fc.uint8Array({ minLength: n, maxLength: n }).map((data): TensorInput => ({ dtype, shape, data }));
});

describe('property-based round trips', () => {
  const check = (input: Record<string, TensorInput>, metadata: Record<string, string> | undefined) => {
    const file = serializeSafetensors(input, metadata);
    expect(Number(new DataView(file.buffer).getBigUint64(0, true)) % 8).toBe(0); // data 8-aligned
    const out = parseSafetensors(file);
    expect(out.metadata).toEqual(metadata ?? {});
    expect(new Set(out.tensors.keys())).toEqual(new Set(Object.keys(input)));
    for (const [name, t] of Object.entries(input)) {
      const v = out.tensors.get(name)!;
      expect(v.dtype).toBe(t.dtype);
      expect(v.shape).toEqual(t.shape);
      const raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      expect(v.bytes).toEqual(raw);
      if (t.dtype === 'F32') expect(new Uint8Array(v.toFloat32().buffer)).toEqual(raw); // bit-exact, NaNs too
    }
    // Canonical: writing what was read gives the same file.
    const again = Object.fromEntries([...out.tensors].map(([k, v]) => [k, { dtype: v.dtype, shape: v.shape, data: v.bytes }]));
    expect(serializeSafetensors(again, out.metadata)).toEqual(file);
  };

  it('F32 tensors with hostile names and metadata', () => {
    fc.assert(fc.property(fc.dictionary(tensorName, f32Tensor, { maxKeys: 6 }), fc.option(fc.dictionary(text, text, { maxKeys: 4 }), { nil: undefined }), check), { numRuns: 300 });
  });

  it('every dtype, raw bytes', () => {
    fc.assert(fc.property(fc.dictionary(tensorName, anyTensor, { maxKeys: 6 }), fc.constant(undefined), check), { numRuns: 300 });
  });
});

describe('hostile files are rejected with their specific code', () => {
  const valid4 = `"t":${entry('F32', [1], 0, 4)}`;
  const cases: [string, Uint8Array, SafetensorsErrorCode, ...string[]][] = [
    ['empty file', new Uint8Array(0), 'header-too-short', 'file is 0 bytes; expected at least 8'],
    ['7-byte file', new Uint8Array(7), 'header-too-short', 'file is 7 bytes'],
    ['header length 2^60', craft('{}', 0, 2n ** 60n), 'header-too-large', `header length ${2n ** 60n} exceeds the cap of 100000000`],
    ['header length 2^64 - 1', craft('{}', 0, 2n ** 64n - 1n), 'header-too-large'],
    ['header length 100,000,001', craft('{}', 0, 100_000_001n), 'header-too-large'],
    ['header length past the end', craft('{}', 0, 1234n), 'header-length-past-end', 'header length 1234 runs past the end of the file (file is 10 bytes'],
    ['header length at the cap, past the end', craft('{}', 0, 100_000_000n), 'header-length-past-end'],
    ['header length one past the end', craft('{}', 0, 3n), 'header-length-past-end'],
    ['invalid UTF-8 byte', craft(new Uint8Array([0x7b, 0xff, 0x7d])), 'header-not-utf8', 'not valid UTF-8'],
    ['overlong UTF-8', craft(new Uint8Array([0x7b, 0xc0, 0x80, 0x7d])), 'header-not-utf8'],
    ['UTF-8-encoded surrogate', craft(new Uint8Array([0x7b, 0xed, 0xa0, 0x80, 0x7d])), 'header-not-utf8'],
    ['UTF-8 cut mid-character', craft(new Uint8Array([0x7b, 0x7d, 0xe2, 0x82])), 'header-not-utf8'],
    ['empty header', craft(''), 'header-not-json', 'header is empty'],
    ['truncated JSON', craft('{"t":'), 'header-not-json', 'the end of the header'],
    ['unquoted key', craft('{t:1}'), 'header-not-json'],
    ['single quotes', craft("{'t':1}"), 'header-not-json'],
    ['trailing comma', craft(`{${valid4},}`, 4), 'header-not-json'],
    ['missing colon', craft('{"t" 1}'), 'header-not-json', "expected ':'"],
    ['garbage after the object', craft('{} x'), 'header-not-json', "unexpected 'x' after the end of the JSON value"],
    ['second object after the first', craft('{}{}'), 'header-not-json'],
    ['invalid escape', craft('{"\\x":1}'), 'header-not-json', 'invalid escape \\x'],
    ['short \\u escape', craft('{"\\u12":1}'), 'header-not-json', '4 hex digits'],
    ['lone high surrogate escape', craft('{"\\ud800":1}'), 'header-not-json', 'surrogate'],
    ['lone low surrogate escape', craft('{"\\udc00":1}'), 'header-not-json', 'surrogate'],
    ['raw control character in a key', craft('{"a\tb":1}'), 'header-not-json', 'U+0009'],
    ['NaN literal', craft('{"__metadata__":NaN}'), 'header-not-json'],
    ['leading zero', craft(`{"t":${entry('U8', '[01]', 0, 1)}}`, 1), 'header-not-json'],
    ['plus sign', craft(`{"t":${entry('U8', '[+1]', 0, 1)}}`, 1), 'header-not-json'],
    ['deep nesting', craft(`{"a":${'['.repeat(5000)}${']'.repeat(5000)}}`), 'header-too-deep', 'deeper than 64'],
    ['array header', craft('[]'), 'header-not-object', 'header is an array; expected a JSON object'],
    ['number header', craft('5'), 'header-not-object', 'the number 5'],
    ['null header', craft('null'), 'header-not-object', 'null'],
    ['string header', craft('"{}"'), 'header-not-object'],
    ['leading space', craft(' {}'), 'header-not-object', "expected '{' as its first byte"],
    ['leading BOM', craft(new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d])), 'header-not-object'],
    ['NUL padding', craft('{}\0\0\0\0\0\0'), 'nul-padding', 'expected space (0x20) padding'],
    ['NUL after space padding', craft(`{${valid4}}  \0\0`, 4), 'nul-padding'],
    ['duplicate tensor', craft(`{${valid4},${valid4}}`, 4), 'duplicate-key', 'duplicate key "t" in the header object'],
    ['duplicate via \\u escape', craft(`{"ab":${entry('U8', [1], 0, 1)},"a\\u0062":${entry('U8', [1], 1, 2)}}`, 2), 'duplicate-key', '"ab"'],
    ['duplicate via \\/ escape', craft(`{"/":${entry('U8', [1], 0, 1)},"\\/":${entry('U8', [1], 1, 2)}}`, 2), 'duplicate-key'],
    ['duplicate via surrogate pair escape', craft(`{"😀":${entry('U8', [1], 0, 1)},"\\ud83d\\ude00":${entry('U8', [1], 1, 2)}}`, 2), 'duplicate-key'],
    ['duplicate field in an entry', craft('{"t":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}}', 1), 'duplicate-key', 'duplicate key "dtype" in the value of key "t"'],
    ['escaped duplicate field', craft('{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"data\\u005foffsets":[0,1]}}', 1), 'duplicate-key'],
    ['duplicate metadata key', craft('{"__metadata__":{"k":"a","k":"b"}}'), 'duplicate-key'],
    ['duplicate __metadata__', craft('{"__metadata__":{},"__metadata__":{}}'), 'duplicate-key'],
    ['entry is a number', craft('{"t":5}'), 'bad-entry', 'tensor "t" is the number 5; expected an object'],
    ['entry is an array', craft('{"t":[]}'), 'bad-entry'],
    ['entry without dtype', craft('{"t":{"shape":[1],"data_offsets":[0,1]}}', 1), 'bad-entry', 'no dtype field'],
    ['entry without data_offsets', craft('{"t":{"dtype":"U8","shape":[1]}}', 1), 'bad-entry', 'no data_offsets'],
    ['extra field in an entry', craft('{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"offsets":[0,1]}}', 1), 'bad-entry', 'unknown field "offsets"'],
    ['dtype not a string', craft(`{"t":${entry('U8', [1], 0, 1).replace('"U8"', '4')}}`, 1), 'bad-entry', 'dtype the number 4'],
    ['unknown dtype', craft(`{"t":${entry('F128', [1], 0, 16)}}`, 16), 'unknown-dtype', 'unknown dtype "F128"; expected one of F64'],
    ['lower-case dtype', craft(`{"t":${entry('f32', [1], 0, 4)}}`, 4), 'unknown-dtype'],
    ['dtype "constructor"', craft(`{"t":${entry('constructor', [1], 0, 4)}}`, 4), 'unknown-dtype'],
    ['dtype "__proto__"', craft(`{"t":${entry('__proto__', [1], 0, 4)}}`, 4), 'unknown-dtype'],
    ['dtype "toString"', craft(`{"t":${entry('toString', [1], 0, 4)}}`, 4), 'unknown-dtype'],
    ['shape not an array', craft(`{"t":${entry('U8', '"1"', 0, 1)}}`, 1), 'bad-shape'],
    ['negative dimension', craft(`{"t":${entry('U8', '[-1]', 0, 1)}}`, 1), 'bad-shape', 'the number -1 as dimension 0'],
    ['fractional dimension', craft(`{"t":${entry('U8', '[1.5]', 0, 1)}}`, 1), 'bad-shape'],
    ['1.0 as dimension', craft(`{"t":${entry('U8', '[1.0]', 0, 1)}}`, 1), 'bad-shape'],
    ['exponent dimension', craft(`{"t":${entry('U8', '[1e0]', 0, 1)}}`, 1), 'bad-shape'],
    ['null dimension', craft(`{"t":${entry('U8', '[null]', 0, 1)}}`, 1), 'bad-shape'],
    ['dimension 2^53', craft(`{"t":${entry('U8', '[9007199254740992]', 0, 1)}}`, 1), 'shape-overflow', '9007199254740992'],
    ['element count 2^54', craft(`{"t":${entry('U8', [2 ** 27, 2 ** 27], 0, 1)}}`, 1), 'shape-overflow', 'the element count of shape [134217728, 134217728] exceeds 2^53 - 1'],
    ['overflow before a zero dimension', craft(`{"t":${entry('U8', [2 ** 40, 2 ** 40, 0], 0, 0)}}`), 'shape-overflow'],
    ['byte size over 2^53', craft(`{"t":${entry('F64', [2 ** 51], 0, 1)}}`, 1), 'shape-overflow', 'more than 2^53 - 1 bytes'],
    ['one offset', craft('{"t":{"dtype":"U8","shape":[1],"data_offsets":[0]}}', 1), 'bad-offsets', 'of length 1; expected [begin, end]'],
    ['three offsets', craft('{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1,1]}}', 1), 'bad-offsets'],
    ['offsets as a string', craft('{"t":{"dtype":"U8","shape":[1],"data_offsets":"0,1"}}', 1), 'bad-offsets'],
    ['negative offset', craft(`{"t":${entry('U8', [1], -1, 0)}}`, 1), 'bad-offsets'],
    ['fractional offset', craft(`{"t":${entry('U8', [1], 0, '1.0')}}`, 1), 'bad-offsets'],
    ['end before begin', craft(`{"t":${entry('U8', [0], 4, 0)}}`, 4), 'bad-offsets', 'expected begin ≤ end'],
    ['offset 2^53', craft(`{"t":${entry('U8', [4], '9007199254740992', '9007199254740996')}}`, 4), 'offset-not-safe-integer', '9007199254740992'],
    ['offset 2^53 + 1 (rounds to 2^53 in a double)', craft(`{"t":${entry('U8', [0], 0, '9007199254740993')}}`), 'offset-not-safe-integer', '9007199254740993'],
    ['400-digit offset', craft(`{"t":${entry('U8', [0], '1'.repeat(400), '1'.repeat(400))}}`), 'offset-not-safe-integer'],
    ['size not shape × dtype', craft(`{"t":${entry('F32', [2], 0, 4)}}`, 4), 'size-mismatch', '(4 bytes); expected 8 bytes for F32 of shape [2]'],
    ['size of the wrong dtype', craft(`{"t":${entry('F16', [2], 0, 8)}}`, 8), 'size-mismatch'],
    ['data not starting at 0', craft(`{"t":${entry('U8', [4], 4, 8)}}`, 8), 'data-gap', 'begins at data byte 4; expected 0'],
    ['gap between tensors', craft(`{"a":${entry('U8', [2], 0, 2)},"b":${entry('U8', [2], 3, 5)}}`, 5), 'data-gap', 'bytes 2..3'],
    ['overlapping tensors', craft(`{"a":${entry('U8', [4], 0, 4)},"b":${entry('U8', [4], 2, 6)}}`, 6), 'offsets-overlap', '"b" [2, 6] overlaps tensor "a" [0, 4]'],
    ['two tensors on the same bytes', craft(`{"a":${entry('U8', [4], 0, 4)},"b":${entry('U8', [4], 0, 4)}}`, 4), 'offsets-overlap'],
    ['zero-size tensor inside another', craft(`{"a":${entry('U8', [4], 0, 4)},"b":${entry('U8', [0], 2, 2)}}`, 4), 'offsets-overlap'],
    ['tensor past the end of the file', craft(`{"t":${entry('U8', [8], 0, 8)}}`, 4), 'data-past-end', 'ends at data byte 8 but the data buffer has 4 bytes'],
    ['huge tensor, tiny file', craft(`{"t":${entry('U8', [2 ** 50], 0, 2 ** 50)}}`, 4), 'data-past-end'],
    ['trailing bytes', craft(`{${valid4}}`, 5), 'trailing-bytes', '1 bytes after the last tensor'],
    ['data but no tensors', craft('{}', 1), 'trailing-bytes'],
    ['metadata value not a string', craft('{"__metadata__":{"k":1}}'), 'bad-metadata', '__metadata__ key "k" is the number 1; expected a string'],
    ['metadata value null', craft('{"__metadata__":{"k":null}}'), 'bad-metadata'],
    ['metadata nested object', craft('{"__metadata__":{"k":{}}}'), 'bad-metadata'],
    ['metadata an array', craft('{"__metadata__":["a"]}'), 'bad-metadata', 'is an array; expected an object'],
    ['metadata a string', craft('{"__metadata__":"x"}'), 'bad-metadata'],
    ['metadata null', craft('{"__metadata__":null}'), 'bad-metadata'],
  ];

  it.each(cases.map(([label, file, code, ...fragments]) => ({ label, file, code, fragments })))('$label → $code', ({ file, code, fragments }) => {
    expectCode(() => parseSafetensors(file, 'hostile.safetensors'), code, 'hostile.safetensors: ', ...fragments);
  });

  it('every code of the reader is exercised by the corpus', () => {
    const codes = new Set(cases.map((c) => c[2]));
    expect([...codes].sort()).toEqual([
      'bad-entry', 'bad-metadata', 'bad-offsets', 'bad-shape', 'data-gap', 'data-past-end', 'duplicate-key',
      'header-length-past-end', 'header-not-json', 'header-not-object', 'header-not-utf8', 'header-too-deep',
      'header-too-large', 'header-too-short', 'nul-padding', 'offset-not-safe-integer', 'offsets-overlap',
      'shape-overflow', 'size-mismatch', 'trailing-bytes', 'unknown-dtype',
    ]);
  });
});

describe('writer validation', () => {
  const f = new Float32Array(2);
  it.each<[string, () => unknown, new (m: string) => Error, string]>([
    ['data size ≠ shape × dtype', () => serializeSafetensors({ t: { dtype: 'F32', shape: [3], data: f } }), ShapeError, 'needs 12 bytes; its data has 8'],
    ['negative dimension', () => serializeSafetensors({ t: { dtype: 'F32', shape: [-2], data: f } }), ShapeError, 'non-negative integers'],
    ['fractional dimension', () => serializeSafetensors({ t: { dtype: 'F32', shape: [0.5, 4], data: f } }), ShapeError, 'non-negative integers'],
    ['__metadata__ as a tensor name', () => serializeSafetensors({ __metadata__: { dtype: 'F32', shape: [2], data: f } }), OptionError, 'reserved'],
    ['non-string metadata', () => serializeSafetensors({}, { k: 1 as unknown as string }), OptionError, 'metadata "k" is a number; expected a string'],
    ['unknown dtype', () => serializeSafetensors({ t: { dtype: 'F128' as Dtype, shape: [2], data: f } }), OptionError, 'unknown dtype "F128"'],
    ['element width ≠ dtype width', () => serializeSafetensors({ t: { dtype: 'F16', shape: [4], data: f } }), OptionError, 'Float32Array (4-byte elements)'],
    ['lone surrogate in a name', () => serializeSafetensors({ 'a\ud800': { dtype: 'F32', shape: [2], data: f } }), OptionError, 'lone surrogate'],
    ['lone surrogate in metadata', () => serializeSafetensors({}, { k: '\udc00' }), OptionError, 'lone surrogate'],
  ])('%s', (_label, fn, cls, fragment) => {
    const e = caught(fn);
    expect(e).toBeInstanceOf(cls);
    expect((e as Error).message).toContain(fragment);
  });
});

/** Deterministic PRNG (mulberry32) so a fuzz failure can be replayed from its seed. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('fuzzing (time-bounded): only SafetensorsError escapes, results are consistent', () => {
  const seeds = [
    serializeSafetensors({
      w: { dtype: 'F32', shape: [2, 3], data: new Float32Array(6).fill(0.5) },
      h: { dtype: 'F16', shape: [3], data: new Uint16Array([1, 2, 0x7c00]) },
      b: { dtype: 'BF16', shape: [1], data: new Uint16Array([0x3f80]) },
      d: { dtype: 'F64', shape: [], data: new Float64Array([1]) },
      i: { dtype: 'I8', shape: [0], data: new Int8Array(0) },
      '"\\': { dtype: 'U8', shape: [2], data: new Uint8Array([1, 2]) },
    }, { a: 'b', '\\u': '"' }),
    craft(`{"x":${entry('F32', [1], 0, 4)},"y":${entry('U16', [2, 1], 4, 8)}}`, le32([1, 2])),
    craft('{}'),
  ];
  const TOKENS = ['{', '}', '[', ']', '"', '\\', '\\u', ':', ',', '0', '1', '-', '.', 'e', '9007199254740993', ' ', '\0', 'null', '"__metadata__"', '"dtype"', '"F32"', '\u00e9', '\ud83d'];

  function mutate(r: () => number): Uint8Array {
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
    const base = pick(seeds);
    const kind = Math.floor(r() * 6);
    const n = Number(new DataView(base.buffer, base.byteOffset).getBigUint64(0, true));
    if (kind === 0) { // flip random bytes anywhere (length prefix included)
      const out = base.slice();
      for (let k = 1 + Math.floor(r() * 4); k > 0; k--) out[Math.floor(r() * out.length)] ^= 1 << Math.floor(r() * 8);
      return out;
    }
    if (kind === 1) { // truncate
      return base.slice(0, Math.floor(r() * base.length));
    }
    if (kind === 2) { // insert or delete a few random bytes
      const at = Math.floor(r() * base.length);
      const extra = Uint8Array.from({ length: Math.floor(r() * 4) }, () => Math.floor(r() * 256));
      const cut = Math.floor(r() * 3);
      return Uint8Array.from([...base.subarray(0, at), ...extra, ...base.subarray(at + cut)]);
    }
    if (kind === 3) { // random buffer, sometimes with a plausible length prefix
      const out = Uint8Array.from({ length: Math.floor(r() * 64) }, () => Math.floor(r() * 256));
      if (out.length >= 8 && r() < 0.5) new DataView(out.buffer).setBigUint64(0, BigInt(Math.floor(r() * (out.length - 7))), true);
      return out;
    }
    // JSON-aware: splice tokens into / out of the header text and fix the length prefix, so the
    // parser and validator (not only the length checks) see the damage.
    const chars = [...new TextDecoder().decode(base.subarray(8, 8 + n))];
    for (let k = 1 + Math.floor(r() * 3); k > 0; k--) {
      const at = Math.floor(r() * (chars.length + 1));
      if (kind === 4) chars.splice(at, 0, pick(TOKENS));
      else chars.splice(at, 1 + Math.floor(r() * 3));
    }
    return craft(chars.join(''), base.subarray(8 + n));
  }

  it('mutated and random files', () => {
    const seed = Date.now() >>> 0;
    const r = rng(seed);
    const deadline = performance.now() + 1500;
    let runs = 0;
    let accepted = 0;
    const codes = new Map<string, number>();
    while (performance.now() < deadline) {
      const file = mutate(r);
      runs++;
      let result;
      try {
        result = parseSafetensors(file, 'fuzz');
      } catch (e) {
        if (!(e instanceof SafetensorsError)) {
          throw new Error(`seed ${seed}, run ${runs}: non-SafetensorsError ${String(e)} for file ${Buffer.from(file).toString('hex')}`);
        }
        codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
        continue;
      }
      accepted++;
      let total = 0;
      for (const t of result.tensors.values()) {
        const elements = t.shape.reduce((a, b) => a * b, 1);
        expect(t.bytes.length, `seed ${seed}`).toBe(elements * SIZE[t.dtype]);
        expect(t.bytes.buffer).toBe(file.buffer);
        total += t.bytes.length;
        if (['F32', 'F64', 'F16', 'BF16'].includes(t.dtype)) expect(t.toFloat32()).toHaveLength(elements);
        else expect(() => t.toFloat32()).toThrow(SafetensorsError);
      }
      expect(total, `seed ${seed}`).toBeLessThanOrEqual(file.length - 8);
    }
    expect(runs).toBeGreaterThan(200);
    // The mutations reach deep into the validator, not only the length checks.
    expect(codes.size, [...codes.keys()].join(' ')).toBeGreaterThanOrEqual(10);
    expect(accepted).toBeGreaterThan(0); // some mutations (e.g. metadata edits) stay valid
  });

  it('arbitrary bytes after a consistent length prefix (fast-check)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(64), (header, dataLength) => {
      try {
        parseSafetensors(craft(header, dataLength));
      } catch (e) {
        if (!(e instanceof SafetensorsError)) throw e;
      }
    }), { numRuns: 2000 });
  });
});

describe('alignment', () => {
  const values = [1.5, -2, 3.25, 1e-40, Infinity];
  it('tensor data at an odd address of the underlying buffer still reads correctly', () => {
    const file = serializeSafetensors({
      f32: { dtype: 'F32', shape: [5], data: new Float32Array(values) },
      f64: { dtype: 'F64', shape: [5], data: new Float64Array(values) },
      f16: { dtype: 'F16', shape: [2], data: new Uint16Array([0x3e00, 0x0001]) },
    });
    const big = new Uint8Array(file.length + 3);
    big.set(file, 1);
    const { tensors } = parseSafetensors(big.subarray(1, 1 + file.length));
    const f32 = tensors.get('f32')!;
    expect(f32.bytes.byteOffset % 4).not.toBe(0);
    expect([...f32.toFloat32()]).toEqual([...new Float32Array(values)]);
    expect([...tensors.get('f64')!.toFloat32()]).toEqual([...new Float32Array(values)]);
    expect([...tensors.get('f16')!.toFloat32()]).toEqual([1.5, 2 ** -24]);
  });

  it('an unpadded header puts the data at an unaligned file offset', () => {
    const header = `{"w":${entry('F32', [2], 0, 8)}}`;
    expect((8 + header.length) % 4).not.toBe(0);
    const t = parseSafetensors(craft(header, le32([0.25, -8]))).tensors.get('w')!;
    expect([...t.toFloat32()]).toEqual([0.25, -8]);
    // The result is a fresh array, not a view that aliases the file.
    expect(t.toFloat32().buffer).not.toBe(t.bytes.buffer);
  });
});

describe('files on disk', () => {
  it('a file written with node:fs reads back through the same function', () => {
    const dir = mkdtempSync(join(tmpdir(), 'safetensors-test-'));
    try {
      const path = join(dir, 'model.safetensors');
      const data = new Float32Array([0.1, 0.2, -0.3, 4e20]);
      writeFileSync(path, serializeSafetensors({ 'layer.0.weight': { dtype: 'F32', shape: [2, 2], data } }, { source: 'test' }));
      const { tensors, metadata } = parseSafetensors(readFileSync(path), path);
      expect(metadata).toEqual({ source: 'test' });
      expect(tensors.get('layer.0.weight')!.shape).toEqual([2, 2]);
      expect(tensors.get('layer.0.weight')!.toFloat32()).toEqual(data);

      const bad = join(dir, 'truncated.safetensors');
      const whole = readFileSync(path);
      writeFileSync(bad, whole.subarray(0, whole.length - 4));
      expectCode(() => parseSafetensors(readFileSync(bad), bad), 'data-past-end', `${bad}: `);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
