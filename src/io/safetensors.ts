// Strict, validating reader and writer for the safetensors format
// (https://github.com/huggingface/safetensors):
//
//   8 bytes   N, little-endian u64: length of the header
//   N bytes   UTF-8 JSON object {"name": {"dtype", "shape", "data_offsets": [begin, end]}, …,
//             optional "__metadata__": {string: string}}; offsets are relative to the data buffer
//   rest      the data buffer, every byte of it owned by exactly one tensor
//
// The reader trusts nothing in the file: every number from the header is checked against the file
// size before anything is allocated or sliced from it, and every rule of the format (plus a few the
// reference implementation only plans or leaves to serde: no duplicate keys, no unknown fields, '{'
// as first header byte) is enforced with its own error code. Platform-neutral: no node: imports.

import { DataFormatError, OptionError, ShapeError } from '../errors.js';

export type SafetensorsErrorCode =
  | 'header-too-short' // file shorter than the 8-byte length prefix
  | 'header-too-large' // header length above the reference cap of 100,000,000 bytes
  | 'header-length-past-end' // header length runs past the end of the file
  | 'header-not-utf8'
  | 'header-not-json' // syntax error, empty header, or garbage after the JSON object
  | 'header-too-deep' // nesting deeper than any valid header needs (guards the parser's stack)
  | 'header-not-object' // JSON array/number/null/…, or leading whitespace before '{'
  | 'nul-padding' // header padded with NUL bytes instead of spaces
  | 'duplicate-key' // same key twice in one JSON object (after unescaping)
  | 'bad-entry' // tensor entry not an object, missing/unknown field, dtype not a string
  | 'unknown-dtype'
  | 'bad-shape' // shape not an array of non-negative integers
  | 'shape-overflow' // element count or byte size beyond Number.MAX_SAFE_INTEGER
  | 'bad-offsets' // data_offsets not [begin, end] of non-negative integers with begin ≤ end
  | 'offset-not-safe-integer' // an offset above 2^53 - 1
  | 'size-mismatch' // end - begin differs from shape × dtype size
  | 'data-gap' // bytes of the data buffer owned by no tensor (including before the first one)
  | 'offsets-overlap' // two tensors share bytes
  | 'data-past-end' // tensors extend past the end of the file
  | 'trailing-bytes' // bytes after the last tensor
  | 'bad-metadata' // __metadata__ not an object of string → string
  | 'unsupported-dtype'; // toFloat32 on a dtype it cannot convert

export class SafetensorsError extends DataFormatError {
  override name = 'SafetensorsError';
  constructor(readonly code: SafetensorsErrorCode, message: string) {
    super(message);
  }
}

/** Bytes per element of each dtype the reader accepts. A Map, not an object literal, so that names
 *  like "constructor" or "__proto__" in a hostile file cannot hit Object.prototype. */
const DTYPE_SIZES = new Map([
  ['F64', 8], ['F32', 4], ['F16', 2], ['BF16', 2], ['F8_E4M3', 1], ['F8_E5M2', 1],
  ['I64', 8], ['I32', 4], ['I16', 2], ['I8', 1], ['U64', 8], ['U32', 4], ['U16', 2], ['U8', 1],
  ['BOOL', 1],
] as const);

export type Dtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'F8_E4M3' | 'F8_E5M2' | 'I64' | 'I32' | 'I16'
  | 'I8' | 'U64' | 'U32' | 'U16' | 'U8' | 'BOOL';

export const DTYPES: readonly Dtype[] = [...DTYPE_SIZES.keys()];

/** The reference implementation's cap on the header length (bytes). */
export const MAX_HEADER_BYTES = 100_000_000;
/** Deepest nesting a valid header needs is 3 (object → entry → shape); this bounds recursion. */
const MAX_DEPTH = 64;

export interface TensorView {
  readonly dtype: Dtype;
  readonly shape: number[];
  /** A view into the parsed file's bytes (no copy), little-endian, possibly unaligned. */
  readonly bytes: Uint8Array;
  /** A fresh, aligned Float32Array of the values; F32, F64, F16 and BF16 only. */
  toFloat32(): Float32Array;
}

export interface Safetensors {
  /** Tensors in header order. */
  tensors: Map<string, TensorView>;
  metadata: Record<string, string>;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Quotes a name for an error message, cut short so a hostile 100 MB key cannot flood logs. */
function q(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);
}

// ---------------------------------------------------------------------------------------------
// Minimal strict JSON parser. JSON.parse cannot be used: it silently keeps the last of duplicate
// keys, rounds integers above 2^53, and lets "__proto__" keys reach object prototypes. This one
// returns objects as Maps (checked for duplicates after unescaping), plain integer literals of at
// most 15 digits as numbers (always exact) and every other number as its raw text.
//
// Memory stays proportional to the header, with a small factor: only containers that can be valid
// where they stand are built (entry and metadata objects at depth 2, shape/offset arrays at
// depth 3); any other object or array is parsed for syntax, depth and duplicate keys and then
// stands as a placeholder (a header of 6 million "{}" would otherwise build 6 million Maps, ~70
// bytes of heap per header byte). Entries are validated as soon as they are parsed, so only valid
// ones are kept.
// ---------------------------------------------------------------------------------------------

class JsonNumber {
  constructor(readonly raw: string) {}
}
/** An object or array parsed for syntax but not built: it can never be valid where it stands. */
class Skipped {
  constructor(readonly kind: 'an object' | 'an array') {}
}
const SKIPPED_OBJECT = new Skipped('an object');
const SKIPPED_ARRAY = new Skipped('an array');
type Json = null | boolean | string | number | JsonNumber | Skipped | Json[] | Map<string, Json>;
const SHORT_INTEGER = /^(?:0|[1-9][0-9]{0,14})$/;

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const HEX4 = /[0-9a-fA-F]{4}/y;
const SIMPLE_ESCAPES: Record<string, string> = {
  '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t',
};

function describeChar(c: string | undefined): string {
  if (c === undefined) return 'the end of the header';
  const code = c.codePointAt(0)!;
  return code <= 0x20 || code >= 0x7f ? `U+${code.toString(16).toUpperCase().padStart(4, '0')}` : `'${c}'`;
}

/**
 * Parses the header text. A root object's members are handed to `member` one by one as they are
 * parsed (entries and metadata, validated there); any other root is parsed without being built and
 * returned (a placeholder or a scalar) for the caller to refuse.
 */
function parseHeaderJson(s: string, file: string, member: (key: string, v: Json) => void): Json {
  let i = 0;
  const fail = (what: string): never => {
    throw new SafetensorsError('header-not-json', `${file}: header is not valid JSON: ${what} at header character ${i}`);
  };
  const ws = () => {
    for (let c = s.charCodeAt(i); c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09; c = s.charCodeAt(++i));
  };
  const expectChar = (c: string, what: string) => {
    if (s[i] !== c) fail(`expected ${what}, found ${describeChar(s[i])}`);
    i++;
  };
  const hex4 = (): number => {
    HEX4.lastIndex = i;
    if (!HEX4.test(s)) fail('expected 4 hex digits after \\u');
    const v = parseInt(s.slice(i, i + 4), 16);
    i += 4;
    return v;
  };
  const string = (): string => {
    expectChar('"', 'a string');
    let out = '';
    let start = i;
    for (;;) {
      const c = s.charCodeAt(i);
      if (Number.isNaN(c)) fail('unterminated string');
      if (c === 0x22) break;
      if (c < 0x20) fail(`raw control character ${describeChar(s[i])} in a string (must be escaped)`);
      if (c !== 0x5c) { i++; continue; }
      out += s.slice(start, i);
      const e = s[++i];
      i++;
      if (e !== undefined && Object.hasOwn(SIMPLE_ESCAPES, e)) {
        out += SIMPLE_ESCAPES[e];
      } else if (e === 'u') {
        const u = hex4();
        // Surrogates must come as a valid pair: a lone one is not a Unicode string (serde_json,
        // and so the reference reader, rejects it too).
        if (u >= 0xdc00 && u <= 0xdfff) fail('lone low surrogate escape');
        if (u >= 0xd800 && u <= 0xdbff) {
          if (s[i] !== '\\' || s[i + 1] !== 'u') fail('high surrogate escape not followed by a low one');
          i += 2;
          const lo = hex4();
          if (lo < 0xdc00 || lo > 0xdfff) fail('high surrogate escape not followed by a low one');
          out += String.fromCharCode(u, lo);
        } else {
          out += String.fromCharCode(u);
        }
      } else {
        i--;
        fail(`invalid escape \\${e ?? ''}; expected one of \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX`);
      }
      start = i;
    }
    out += s.slice(start, i);
    i++;
    return out;
  };
  /** Members of an object; `onMember` receives each value as soon as it is parsed. */
  const members = (depth: number, where: string, keep: boolean, onMember: (key: string, v: Json) => void) => {
    i++; // '{'
    const keys = new Set<string>();
    ws();
    if (s[i] === '}') { i++; return; }
    for (;;) {
      ws();
      const keyAt = i;
      const key = string();
      if (keys.has(key)) {
        throw new SafetensorsError('duplicate-key', `${file}: duplicate key ${q(key)} in ${where} (second one at header character ${keyAt}); keys must be unique`);
      }
      keys.add(key);
      ws();
      expectChar(':', "':'");
      onMember(key, value(depth + 1, `the value of key ${q(key)}`, keep));
      ws();
      if (s[i] === '}') { i++; return; }
      expectChar(',', "',' or '}'");
    }
  };
  /** One value; containers are built only when `keep` and valid at this depth (see above). */
  const value = (depth: number, where: string, keep: boolean): Json => {
    if (depth > MAX_DEPTH) {
      throw new SafetensorsError('header-too-deep', `${file}: header nests deeper than ${MAX_DEPTH} levels at header character ${i}; a valid header nests 3 levels`);
    }
    ws();
    const c = s[i];
    if (c === '{') {
      const build = keep && depth === 2;
      const obj = new Map<string, Json>();
      members(depth, where, build, build ? (k, v) => obj.set(k, v) : () => {});
      return build ? obj : SKIPPED_OBJECT;
    }
    if (c === '[') {
      const build = keep && depth === 3;
      i++;
      const arr: Json[] = [];
      ws();
      if (s[i] === ']') { i++; return build ? arr : SKIPPED_ARRAY; }
      for (;;) {
        const v = value(depth + 1, `an array in ${where}`, build);
        if (build) arr.push(v);
        ws();
        if (s[i] === ']') { i++; return build ? arr : SKIPPED_ARRAY; }
        expectChar(',', "',' or ']'");
      }
    }
    if (c === '"') return string();
    if (c === 't' && s.startsWith('true', i)) { i += 4; return true; }
    if (c === 'f' && s.startsWith('false', i)) { i += 5; return false; }
    if (c === 'n' && s.startsWith('null', i)) { i += 4; return null; }
    NUMBER.lastIndex = i;
    if (NUMBER.test(s)) {
      const raw = s.slice(i, NUMBER.lastIndex);
      i = NUMBER.lastIndex;
      return SHORT_INTEGER.test(raw) ? Number(raw) : new JsonNumber(raw);
    }
    return fail(`unexpected ${describeChar(c)}; expected a JSON value`);
  };

  if (s.length === 0) fail('the header is empty; expected a JSON object');
  let root: Json = null;
  if (s[0] === '{') members(1, 'the header object', true, member);
  else root = value(1, 'the header object', false);
  // After the object only padding may follow. The reference writer pads with spaces (0x20) to a
  // multiple of 8; JSON whitespace is accepted as the grammar allows it. NUL padding (seen in
  // hand-rolled writers) is refused with its own code; anything else is trailing garbage.
  ws();
  if (i < s.length) {
    if (s.charCodeAt(i) === 0) {
      throw new SafetensorsError('nul-padding', `${file}: header is padded with NUL bytes from header character ${i}; expected space (0x20) padding`);
    }
    fail(`unexpected ${describeChar(s[i])} after the end of the JSON value; only space padding may follow it`);
  }
  return root;
}

/** Dimensions for a message, cut short like q(). */
function dims(shape: readonly number[]): string {
  return shape.length > 8 ? `${shape.slice(0, 8).join(', ')}, … (${shape.length} dimensions)` : shape.join(', ');
}

function jsonKind(v: Json): string {
  if (v === null) return 'null';
  if (v instanceof Map) return 'an object';
  if (v instanceof Skipped) return v.kind;
  if (typeof v === 'number') return `the number ${v}`;
  if (Array.isArray(v)) return 'an array';
  if (v instanceof JsonNumber) return `the number ${v.raw.length > 40 ? `${v.raw.slice(0, 40)}…` : v.raw}`;
  return typeof v === 'string' ? `the string ${q(v)}` : `the boolean ${v}`;
}

/** A JSON number that is a plain non-negative integer literal (no sign, fraction or exponent, as
 *  serde requires for usize). Returns its value, which may be unsafe (> 2^53 - 1): callers check. */
function nonNegativeInteger(v: Json): number | undefined {
  if (typeof v === 'number') return v; // a short plain integer literal (see SHORT_INTEGER)
  return v instanceof JsonNumber && /^(?:0|[1-9][0-9]*)$/.test(v.raw) ? Number(v.raw) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------------------------

interface Entry { name: string; dtype: Dtype; shape: number[]; begin: number; end: number }

const FIELDS = ['dtype', 'shape', 'data_offsets'];

function checkEntry(name: string, v: Json, file: string): Entry {
  // Messages are built only on failure: q() on every entry of a large header is measurable.
  const bad = (code: SafetensorsErrorCode, rest: string) => new SafetensorsError(code, `${file}: tensor ${q(name)}${rest}`);
  if (!(v instanceof Map)) {
    throw bad('bad-entry', ` is ${jsonKind(v)}; expected an object with dtype, shape and data_offsets`);
  }
  for (const k of v.keys()) {
    if (!FIELDS.includes(k)) throw bad('bad-entry', ` has unknown field ${q(k)}; expected only dtype, shape and data_offsets`);
  }
  for (const k of FIELDS) {
    if (!v.has(k)) throw bad('bad-entry', ` has no ${k} field; expected dtype, shape and data_offsets`);
  }

  const dtype = v.get('dtype')!;
  if (typeof dtype !== 'string') throw bad('bad-entry', ` has dtype ${jsonKind(dtype)}; expected a string`);
  const size = DTYPE_SIZES.get(dtype as Dtype);
  if (size === undefined) throw bad('unknown-dtype', ` has unknown dtype ${q(dtype)}; expected one of ${DTYPES.join(', ')}`);

  // Shape: element count and byte size with checked arithmetic. A double product of two safe
  // integers is exact while the true product is ≤ 2^53 - 1 and ≥ 2^53 otherwise (rounding is
  // monotone), so comparing after each multiplication detects every overflow.
  const rawShape = v.get('shape')!;
  if (!Array.isArray(rawShape)) throw bad('bad-shape', ` has shape ${jsonKind(rawShape)}; expected an array of non-negative integers`);
  // Converted in place (no second array: a hostile shape may have millions of dimensions).
  const shape = rawShape as number[];
  let elements = 1;
  for (let d = 0; d < rawShape.length; d++) {
    const dim = rawShape[d];
    const n = nonNegativeInteger(dim);
    if (n === undefined) throw bad('bad-shape', ` has ${jsonKind(dim)} as dimension ${d} of its shape; expected a non-negative integer`);
    if (!Number.isSafeInteger(n)) throw bad('shape-overflow', ` has dimension ${d} = ${(dim as JsonNumber).raw}; expected at most 2^53 - 1`);
    shape[d] = n;
    elements *= n;
    if (elements > Number.MAX_SAFE_INTEGER) throw bad('shape-overflow', `: the element count of shape [${dims(shape.slice(0, d + 1))}${d + 1 < rawShape.length ? ', …' : ''}] exceeds 2^53 - 1`);
  }
  const byteSize = elements * size;
  if (byteSize > Number.MAX_SAFE_INTEGER) throw bad('shape-overflow', `: ${elements} elements of ${dtype} take more than 2^53 - 1 bytes`);

  const offsets = v.get('data_offsets')!;
  if (!Array.isArray(offsets) || offsets.length !== 2) {
    throw bad('bad-offsets', ` has data_offsets ${jsonKind(offsets)}${Array.isArray(offsets) ? ` of length ${offsets.length}` : ''}; expected [begin, end]`);
  }
  const [begin, end] = offsets.map((o, k) => {
    const n = nonNegativeInteger(o);
    const which = k === 0 ? 'begin' : 'end';
    if (n === undefined) throw bad('bad-offsets', ` has data_offsets ${which} ${jsonKind(o)}; expected a non-negative integer`);
    if (!Number.isSafeInteger(n)) throw bad('offset-not-safe-integer', ` has data_offsets ${which} ${(o as JsonNumber).raw}; expected at most 2^53 - 1`);
    return n;
  }) as [number, number];
  if (end < begin) throw bad('bad-offsets', ` has data_offsets [${begin}, ${end}]; expected begin ≤ end`);
  if (end - begin !== byteSize) {
    throw bad('size-mismatch', ` has data_offsets [${begin}, ${end}] (${end - begin} bytes); expected ${byteSize} bytes for ${dtype} of shape [${dims(shape)}]`);
  }
  return { name, dtype: dtype as Dtype, shape, begin, end };
}

function checkMetadata(v: Json, file: string): Record<string, string> {
  if (!(v instanceof Map)) throw new SafetensorsError('bad-metadata', `${file}: __metadata__ is ${jsonKind(v)}; expected an object of string values`);
  for (const [k, x] of v) {
    if (typeof x !== 'string') throw new SafetensorsError('bad-metadata', `${file}: __metadata__ key ${q(k)} is ${jsonKind(x)}; expected a string`);
  }
  // Object.fromEntries defines own properties, so a "__proto__" key stays an ordinary key.
  return Object.fromEntries(v as Map<string, string>);
}

/**
 * Parses and validates a whole safetensors file held in memory. Tensor bytes are views into
 * `bytes` (no copy). Throws SafetensorsError (a DataFormatError) with a specific code on any
 * malformation; `name` (e.g. the file path) prefixes every message.
 */
export function parseSafetensors(bytes: Uint8Array, name = 'safetensors file'): Safetensors {
  // Length prefix: u64 read as BigInt so lengths ≥ 2^53 are compared exactly, and compared to the
  // cap and to the file size before anything is decoded or allocated.
  if (bytes.length < 8) {
    throw new SafetensorsError('header-too-short', `${name}: file is ${bytes.length} bytes; expected at least 8 (the header length prefix)`);
  }
  const n64 = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError('header-too-large', `${name}: header length ${n64} exceeds the cap of ${MAX_HEADER_BYTES} bytes`);
  }
  const n = Number(n64);
  if (8 + n > bytes.length) {
    throw new SafetensorsError('header-length-past-end', `${name}: header length ${n} runs past the end of the file (file is ${bytes.length} bytes, so at most ${bytes.length - 8})`);
  }

  // Header text: strict UTF-8; ignoreBOM keeps a leading BOM in the text so that it is refused as
  // not '{' instead of being silently dropped.
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    throw new SafetensorsError('header-not-utf8', `${name}: header (${n} bytes) is not valid UTF-8; expected UTF-8 JSON`);
  }
  // The reference writer starts the header with '{' and the reference reader plans to require it;
  // leading whitespace or a BOM is refused here already.
  if (/^[\s\uFEFF]/.test(text)) throw new SafetensorsError('header-not-object', `${name}: header starts with ${describeChar(text[0])}; expected '{' as its first byte`);
  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  // Entries are checked as the parser meets them (first problem in file order wins).
  const root = parseHeaderJson(text, name, (key, v) => {
    if (key === '__metadata__') metadata = checkMetadata(v, name);
    else entries.push(checkEntry(key, v, name));
  });
  if (text[0] !== '{') throw new SafetensorsError('header-not-object', `${name}: header is ${jsonKind(root)}; expected a JSON object`);

  // Layout: sorted by (begin, end), tensors must tile the data buffer exactly: start at 0, each
  // begin at the previous end (a larger begin leaves a gap of unowned bytes, a smaller one shares
  // bytes), and the last end at the end of the file.
  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: Entry | undefined;
  for (const e of sorted) {
    if (e.begin > covered) {
      throw new SafetensorsError('data-gap', previous
        ? `${name}: bytes ${covered}..${e.begin} of the data buffer belong to no tensor (tensor ${q(previous.name)} ends at ${covered}, ${q(e.name)} begins at ${e.begin}); expected contiguous tensors`
        : `${name}: the first tensor ${q(e.name)} begins at data byte ${e.begin}; expected 0`);
    }
    if (e.begin < covered) {
      throw new SafetensorsError('offsets-overlap', `${name}: tensor ${q(e.name)} [${e.begin}, ${e.end}] overlaps tensor ${q(previous!.name)} [${previous!.begin}, ${previous!.end}]; expected disjoint tensors`);
    }
    covered = e.end;
    previous = e;
  }
  if (covered > dataLength) {
    throw new SafetensorsError('data-past-end', `${name}: tensor data ends at data byte ${covered} but the data buffer has ${dataLength} bytes (file is ${bytes.length} bytes)`);
  }
  if (covered < dataLength) {
    throw new SafetensorsError('trailing-bytes', `${name}: ${dataLength - covered} bytes after the last tensor (data buffer is ${dataLength} bytes, tensors cover ${covered}); expected none`);
  }

  const tensors = new Map<string, TensorView>();
  for (const e of entries) {
    const view = bytes.subarray(dataStart + e.begin, dataStart + e.end);
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, bytes: view, toFloat32: () => toFloat32(e.name, e.dtype, view) });
  }
  return { tensors, metadata };
}

/** IEEE half → single bit pattern (exact: every f16 value is an f32 value; NaN payloads kept). */
function halfToFloatBits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return sign | 0x7f800000 | (mant << 13); // ±Inf, NaN
  if (exp !== 0) return sign | ((exp + 112) << 23) | (mant << 13); // rebias 15 → 127
  if (mant === 0) return sign; // ±0
  // Subnormal mant·2^-24: shift until the implicit bit appears, lowering the exponent each time.
  let e = 113;
  while ((mant & 0x400) === 0) { mant <<= 1; e--; }
  return sign | (e << 23) | ((mant & 0x3ff) << 13);
}

function toFloat32(name: string, dtype: Dtype, bytes: Uint8Array): Float32Array {
  // The view may start at any byte, so typed arrays are never laid over it directly: F32 is
  // copied into a fresh (aligned) buffer, the rest is read through a DataView (little-endian).
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32': {
      if (LITTLE_ENDIAN) {
        // Not bytes.slice(): on a Node Buffer that returns a view, not a copy.
        const copy = new Uint8Array(bytes.length);
        copy.set(bytes);
        return new Float32Array(copy.buffer);
      }
      const out = new Float32Array(bytes.length / 4);
      for (let i = 0; i < out.length; i++) out[i] = dv.getFloat32(4 * i, true);
      return out;
    }
    case 'F64': {
      const out = new Float32Array(bytes.length / 8);
      for (let i = 0; i < out.length; i++) out[i] = dv.getFloat64(8 * i, true);
      return out;
    }
    case 'F16':
    case 'BF16': {
      const out = new Float32Array(bytes.length / 2);
      const bits = new Uint32Array(out.buffer); // same native order as `out`: reinterpretation
      for (let i = 0; i < out.length; i++) {
        const h = dv.getUint16(2 * i, true);
        bits[i] = dtype === 'F16' ? halfToFloatBits(h) : h << 16;
      }
      return out;
    }
    default:
      throw new SafetensorsError('unsupported-dtype', `tensor ${q(name)} has dtype ${dtype}; toFloat32 supports F32, F64, F16 and BF16`);
  }
}

// ---------------------------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------------------------

export type TensorData = Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array
  | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

export interface TensorInput {
  dtype: Dtype;
  shape: readonly number[];
  /** Raw bytes (Uint8Array/Int8Array) or a typed array whose element size is the dtype's. */
  data: TensorData;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function checkWellFormed(s: string, what: string): void {
  // JSON.stringify would escape a lone surrogate as \udXXX, which strict readers (the reference
  // one included) refuse: such a name could be written but never read back.
  if (LONE_SURROGATE.test(s)) throw new OptionError(`${what} ${q(s)} contains a lone surrogate; expected a well-formed Unicode string`);
}

/** The data's bytes in little-endian order (a view when the platform already is little-endian). */
function littleEndianBytes(data: TensorData): Uint8Array {
  const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const w = data.BYTES_PER_ELEMENT;
  if (LITTLE_ENDIAN || w === 1) return raw;
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i += w) for (let k = 0; k < w; k++) out[i + k] = raw[i + w - 1 - k];
  return out;
}

/**
 * Serializes tensors (sorted by name, packed contiguously from offset 0) and optional string
 * metadata into a safetensors file. The header is padded with spaces so that the data buffer
 * starts at a multiple of 8. Throws OptionError for bad names/dtypes/metadata and ShapeError when
 * a tensor's data does not hold shape × dtype-size bytes.
 */
export function serializeSafetensors(tensors: Record<string, TensorInput>, metadata?: Record<string, string>): Uint8Array {
  const names = Object.keys(tensors).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const parts: string[] = [];
  if (metadata !== undefined) {
    if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) throw new OptionError('metadata must be an object of string values');
    const kv = Object.entries(metadata).map(([k, v]) => {
      checkWellFormed(k, 'metadata key');
      if (typeof v !== 'string') throw new OptionError(`metadata ${q(k)} is a ${typeof v}; expected a string`);
      checkWellFormed(v, `metadata ${q(k)} value`);
      return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
    });
    if (kv.length > 0) parts.push(`"__metadata__":{${kv.join(',')}}`);
  }

  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    if (name === '__metadata__') throw new OptionError('"__metadata__" is reserved for metadata and cannot name a tensor');
    checkWellFormed(name, 'tensor name');
    const t = tensors[name];
    if (t === null || typeof t !== 'object') throw new OptionError(`tensor ${q(name)} is ${t === null ? 'null' : typeof t}; expected { dtype, shape, data }`);
    const { dtype, shape, data } = t;
    const size = DTYPE_SIZES.get(dtype);
    if (size === undefined) throw new OptionError(`tensor ${q(name)} has unknown dtype ${q(String(dtype))}; expected one of ${DTYPES.join(', ')}`);
    if (!Array.isArray(shape)) throw new ShapeError(`tensor ${q(name)} has shape ${String(shape)}; expected an array of non-negative integers`);
    let elements = 1;
    for (const d of shape) {
      if (!Number.isSafeInteger(d) || d < 0) throw new ShapeError(`tensor ${q(name)} has shape [${dims(shape)}]; expected non-negative integers`);
      elements *= d;
      if (elements > Number.MAX_SAFE_INTEGER) throw new ShapeError(`tensor ${q(name)} has shape [${dims(shape)}] whose element count exceeds 2^53 - 1`);
    }
    if (!ArrayBuffer.isView(data) || data instanceof DataView) throw new OptionError(`tensor ${q(name)} data must be a typed array`);
    if (data.BYTES_PER_ELEMENT !== 1 && data.BYTES_PER_ELEMENT !== size) {
      throw new OptionError(`tensor ${q(name)} is ${dtype} (${size}-byte elements) but its data is a ${data.constructor.name} (${data.BYTES_PER_ELEMENT}-byte elements); pass a matching typed array or raw bytes`);
    }
    const byteSize = elements * size;
    if (data.byteLength !== byteSize) {
      throw new ShapeError(`tensor ${q(name)}: ${dtype} of shape [${dims(shape)}] needs ${byteSize} bytes; its data has ${data.byteLength}`);
    }
    parts.push(`${JSON.stringify(name)}:{"dtype":"${dtype}","shape":[${shape.join(',')}],"data_offsets":[${offset},${offset + byteSize}]}`);
    chunks.push(littleEndianBytes(data));
    offset += byteSize;
  }

  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const n = Math.ceil(json.length / 8) * 8;
  if (n > MAX_HEADER_BYTES) throw new OptionError(`header would be ${n} bytes; the format caps headers at ${MAX_HEADER_BYTES} bytes`);
  const out = new Uint8Array(8 + n + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + n);
  let at = 8 + n;
  for (const c of chunks) { out.set(c, at); at += c.length; }
  return out;
}
