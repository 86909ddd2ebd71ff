// `npm run bench:browser`: the side-by-side benchmark of bench/compare.ts, in headless Chromium.
// Starts Vite's dev server for bench/browser/ (COOP/COEP: cross-origin isolated, so threads work)
// on a free localhost port, opens the page in Debian's Chromium (/usr/bin/chromium, CHROMIUM_PATH
// overrides) through playwright-core with executablePath, waits for the page to finish, reads its
// result object and prints median/min/max ms, nominal GFLOP/s and the ratios theirs/ours; writes
// JSON. In the page: wasm-lora through Session (all threads and 1 thread), tfjs-backend-wasm
// (threaded SIMD build when isolated) and tfjs-backend-webgl (here SwiftShader, a software renderer).
// A script, never a test: figures depend on the machine and on what else runs.
//
//   npm run bench:browser                         everything (66 s on the 2-core VM of README.md; minutes under load)
//   npm run bench:browser -- --quick              fewer repetitions, one whole experiment (all threads)
//   npm run bench:browser -- --only tfjs-wasm     a subset: wasm-lora, tfjs-wasm, tfjs-webgl (comma-separated)
//   npm run bench:browser -- --json FILE          where to write the JSON (default tmp/bench-browser.json)
//   npm run bench:browser -- --markdown           also print the table as Markdown
//   npm run bench:browser -- --tfjs-default-threads   tfjs-wasm with its own pool size (cores / 2), not every core
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { chromium } from 'playwright-core';
import { createServer } from 'vite';
import { CHROMIUM, CHROMIUM_ARGS } from '../../test/browser/chromium.js';
import { FLOP, ROWS, type BenchResult, type Stat, type Workload } from '../shared.js';

const argv = process.argv.slice(2);
const opt = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const quick = argv.includes('--quick');
const markdown = argv.includes('--markdown');
const tfjsDefaultThreads = argv.includes('--tfjs-default-threads');
const only = opt('--only');
const jsonPath = opt('--json') ?? 'tmp/bench-browser.json';
const known = new Set(['--quick', '--markdown', '--tfjs-default-threads', '--only', '--json', only, opt('--json')]);
const unknown = argv.filter((a) => !known.has(a));
if (unknown.length) {
  console.error(`bench:browser: unknown argument ${unknown[0]} (flags: --quick, --only LIST, --json FILE, --markdown, --tfjs-default-threads)`);
  process.exit(2);
}

const server = await createServer({
  configFile: join(import.meta.dirname, 'vite.config.ts'),
  server: { host: '127.0.0.1', port: 0, strictPort: false },
});
await server.listen();
const base = server.resolvedUrls!.local[0];
const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
const chromiumVersion = browser.version();
console.log(`wasm-lora vs TensorFlow.js in headless Chromium ${chromiumVersion} — ${cpus().length} × ${cpus()[0]?.model.trim()}, load average at start ${loadavg()[0].toFixed(2)}`);
console.log(`page: ${base} (Vite dev server, COOP/COEP)`);

let result: BenchResult;
const t0 = Date.now();
try {
  const page = await browser.newPage();
  page.on('console', (m) => {
    const text = m.text();
    if (text.startsWith('[bench] ')) console.log(`  ${text.slice(8)}`);
    else if (m.type() === 'error' && !/favicon|dbus/i.test(text)) console.log(`  (page error) ${text}`);
  });
  page.on('pageerror', (e) => console.log(`  (page exception) ${e.message}`));
  const query = new URLSearchParams();
  if (quick) query.set('quick', '1');
  if (only) query.set('only', only);
  if (tfjsDefaultThreads) query.set('tfjsThreads', 'default');
  await page.goto(`${base}?${query}`);
  await page.waitForFunction(() => window.__bench !== undefined, null, { timeout: 20 * 60_000, polling: 1000 });
  result = (await page.evaluate(() => window.__bench))!;
} finally {
  await browser.close();
  await server.close();
}
const wall = (Date.now() - t0) / 1000;
if (result.error) {
  console.error(`\nthe page failed: ${result.error}`);
  process.exit(1);
}

// ---- report (same layout as bench/compare.ts) ---------------------------------------------------
const results = result.results;
const names = Object.keys(results);
const rows = ROWS;
const PEERS = ['tfjs-wasm', 'tfjs-webgl'];
const time = (s: Stat) => (s.median >= 10000 ? `${(s.median / 1000).toFixed(1)} s` : `${s.median.toFixed(s.median < 10 ? 2 : 1)} ms`);
const fmt = (s: Stat | null | undefined, flop: number | null) => {
  if (!s) return '—';
  const range = s.n > 1 ? ` (${s.min.toFixed(1)}–${s.max.toFixed(1)})` : s.n === 0 ? ' (projected)' : '';
  return `${time(s)}${range}${flop ? `, ${(flop / s.median / 1e6).toFixed(1)} GFLOP/s` : ''}`;
};
const best = (key: Workload) => names.filter((n) => n.startsWith('wasm-lora') && results[n][key])
  .sort((a, b) => results[a][key]!.median - results[b][key]!.median)[0];
const label = (n: string) => {
  if (n === 'tfjs-webgl') return 'tfjs-webgl (software renderer)';
  const i = result.info[n] as { wasmBinary?: string; threads?: number } | undefined;
  if (n === 'tfjs-wasm' && i) return `tfjs-wasm ${i.wasmBinary?.includes('threaded') ? 'threaded SIMD' : i.wasmBinary?.includes('simd') ? 'SIMD' : 'plain'} ${i.threads}T`;
  return n;
};

console.log('');
for (const n of names) console.log(`${label(n)}: ${JSON.stringify(result.info[n])}`);
for (const [n, why] of Object.entries(result.failures)) console.log(`${n}: FAILED — ${why}`);
console.log('');
for (const [key, text, flop] of rows) {
  console.log(text);
  for (const n of names) console.log(`  ${label(n).padEnd(32)} ${fmt(results[n][key], flop)}`);
  const ours = best(key);
  if (ours) {
    for (const peer of PEERS) {
      const p = results[peer]?.[key];
      if (p) console.log(`  → ${peer} / ${ours}: ${(p.median / results[ours][key]!.median).toFixed(1)}× ${p.n === 0 ? '(tfjs projected)' : ''}`);
    }
  }
}

if (markdown) {
  const cols = names;
  const peersHere = PEERS.filter((p) => results[p]);
  console.log(`\n| workload | ${cols.map(label).join(' | ')} | ${peersHere.map((p) => `${p} / best wasm-lora`).join(' | ')} |`);
  console.log(`| --- | ${cols.map(() => '---').join(' | ')} | ${peersHere.map(() => '---').join(' | ')} |`);
  for (const [key, text, flop] of rows) {
    const ours = best(key);
    const cells = cols.map((n) => fmt(results[n][key], flop).replace(/(\d)-(\d)/g, '$1–$2'));
    const ratios = peersHere.map((p) => (ours && results[p][key] ? `${(results[p][key]!.median / results[ours][key]!.median).toFixed(1)}×` : '—'));
    console.log(`| ${text} | ${cells.join(' | ')} | ${ratios.join(' | ')} |`);
  }
}

mkdirSync(dirname(jsonPath), { recursive: true });
writeFileSync(jsonPath, JSON.stringify({
  date: new Date().toISOString(), chromium: chromiumVersion, cpu: cpus()[0]?.model, cores: cpus().length,
  wallSeconds: wall, flop: FLOP, ...result,
}, null, 2));
console.log(`\n${wall.toFixed(0)} s in all; JSON: ${jsonPath}`);
process.exit(0);
