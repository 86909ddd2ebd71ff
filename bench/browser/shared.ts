// What the benchmark page (main.ts) and its driver (run.ts) share: the workload's nominal FLOPs, the
// statistics, and the shape of the result object the page leaves in `window.__bench`.

export const SIZES = [784, 1000, 2000, 10];
export const B = 128;
const MACS = SIZES.slice(0, -1).reduce((a, n, l) => a + n * SIZES[l + 1], 0); // 2,804,000 per image
// Nominal FLOPs of the textbook algorithm, as in bench/compare.ts (our cached first layer does less).
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
