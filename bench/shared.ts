// What the benchmarks share — Node (compare.ts) and the browser page (browser/main.ts) with its
// driver (browser/run.ts): the workload's nominal FLOPs, the statistics, the tfjs batches, and the
// shape of the result object the page leaves in `window.__bench`.

export const SIZES = [784, 1000, 2000, 10];
export const B = 128;
const MACS = SIZES.slice(0, -1).reduce((a, n, l) => a + n * SIZES[l + 1], 0); // 2,804,000 per image
// Nominal FLOPs of the textbook algorithm (wasm-lora skips dead units and caches the first layer: it does less).
export const FLOP = {
  forward: 2 * B * MACS,
  full: 2 * B * MACS * 2 + 2 * B * (MACS - SIZES[0] * SIZES[1]),
  lora: 2 * B * MACS + 2 * B * (MACS - SIZES[0] * SIZES[1]),
  eval: 2 * 10000 * MACS,
};

/** n = 0: projected from other medians (min/max NaN); n = 1: a single run. */
export interface Stat { median: number; min: number; max: number; n: number }

export const stat = (ms: number[]): Stat => {
  const s = [...ms].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], min: s[0], max: s[s.length - 1], n: s.length };
};

export type Workload = 'forward' | 'full' | 'lora' | 'evalCold' | 'eval' | 'experiment';

/** The report's rows: workload, label, nominal FLOPs (null: no rate). */
export const ROWS: [Workload, string, number | null][] = [
  ['forward', 'forward, 128 images', FLOP.forward],
  ['full', 'full training step (batch 128)', FLOP.full],
  ['lora', 'LoRA step, r 1 (batch 128)', FLOP.lora],
  ['evalCold', 'evaluate 10k test images', FLOP.eval],
  ['eval', 'evaluate 10k, first layer cached', FLOP.eval],
  ['experiment', 'whole reference experiment', null],
];

export interface BenchResult {
  ok: boolean;
  error?: string;
  quick: boolean;
  userAgent: string;
  crossOriginIsolated: boolean;
  hardwareConcurrency: number;
  /** One entry per variant, e.g. "wasm-lora 2T", "tfjs-wasm", "tfjs-webgl". */
  results: Record<string, Partial<Record<Workload, Stat | null>>>;
  /** What each variant ran on: wasm-lora's session.info, tfjs's initTfjs() info plus details. */
  info: Record<string, unknown>;
  /** Variants that failed, with the reason (the others still ran). */
  failures: Record<string, string>;
  /** Seconds the page spent per variant. */
  seconds: Record<string, number>;
}

/** 16 fixed batches of raw training pixels for the tfjs peers (same rows in Node and the page). */
export function tfjsBatches(train: { count: number; images: Uint8Array; labels: Uint8Array }): { x: Float32Array; y: Int32Array }[] {
  return Array.from({ length: 16 }, (_, i) => {
    const x = new Float32Array(B * 784), y = new Int32Array(B);
    for (let j = 0; j < B; j++) {
      const row = (i * 7919 + j * 104729) % train.count;
      for (let c = 0; c < 784; c++) x[j * 784 + c] = train.images[row * 784 + c];
      y[j] = train.labels[row];
    }
    return { x, y };
  });
}
