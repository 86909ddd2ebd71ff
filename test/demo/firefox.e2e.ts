// "Any browser", shown: the built demo page in a second engine, Firefox (Debian's firefox-esr),
// driven by puppeteer-core over WebDriver BiDi (Playwright cannot drive a stock Firefox; no
// geckodriver here: TOOLCHAIN.md). The page must be cross-origin isolated there too, run the engine
// on wasm SIMD (one thread: kernel threads are off in Firefox for now, see workers/engine.worker.ts)
// and finish a shortened experiment with the frozen weights unchanged.
// Firefox headless has no WebGL2, which the wasm engine does not need.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, preview, type PreviewServer } from 'vite';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

const ROOT = join(import.meta.dirname, '../..');
const CONFIG = join(ROOT, 'vite.demo.config.ts');
const OUT = join(ROOT, 'build/demo-firefox'); // its own build: the Chromium e2e builds build/demo in parallel
const FIREFOX = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr';

let server: PreviewServer | null = null, browser: Browser | null = null, page: Page;
let home = '';
const errors: string[] = [];

beforeAll(async () => {
  if (!existsSync(FIREFOX)) throw new Error(`no Firefox at ${FIREFOX}: apt-get install firefox-esr (or set FIREFOX_PATH)`);
  execFileSync(process.execPath, ['scripts/build-wasm.mjs'], { cwd: ROOT, stdio: 'inherit' });
  execFileSync(process.execPath, ['scripts/demo-data.mjs'], { cwd: ROOT, stdio: 'inherit' });
  await build({ configFile: CONFIG, logLevel: 'warn', build: { outDir: OUT, emptyOutDir: true } });
  server = await preview({ configFile: CONFIG, logLevel: 'warn', build: { outDir: OUT }, preview: { host: '127.0.0.1', port: 0 } });
  // Firefox writes into $HOME even with its own profile: give it a scratch one.
  home = mkdtempSync(join(tmpdir(), 'wasm-lora-firefox-'));
  browser = await puppeteer.launch({ browser: 'firefox', executablePath: FIREFOX, headless: true, env: { ...process.env, HOME: home } });
  page = await browser.newPage();
  page.on('pageerror', (e) => errors.push(`page error: ${(e as Error).message}`));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (home) rmSync(home, { recursive: true, force: true });
});

const state = () => page.$eval('#status', (el) => (el as HTMLElement).dataset.state);

describe('the demo page in Firefox', () => {
  it('loads cross-origin isolated and runs a shortened experiment to the end on wasm SIMD', async () => {
    await page.goto(server!.resolvedUrls!.local[0]);
    await page.waitForSelector('#status[data-state="ready"], #status[data-state="error"]', { timeout: 60_000 });
    expect(await state(), await page.$eval('#status', (el) => el.textContent)).toBe('ready');
    const env = await page.evaluate(() => ({ isolated: globalThis.crossOriginIsolated, ua: navigator.userAgent, cores: navigator.hardwareConcurrency }));
    const engineLine = await page.$eval('body', (b) => b.textContent!.match(/backend\s*(\w+)\s*kernels\s*([\w-]+)\s*threads\s*(\d+)/)?.slice(1));
    console.log(`Firefox: ${env.ua}; crossOriginIsolated ${env.isolated}; engine ${JSON.stringify(engineLine)}`);
    expect(env.isolated).toBe(true);
    expect(engineLine?.[0]).toBe('wasm');
    expect(engineLine?.[1]).toMatch(/^wasm-(relaxed-)?simd$/);
    // Kernel threads are off in Firefox for now (workers/engine.worker.ts): one thread, and it says so.
    expect(Number(engineLine?.[2])).toBe(1);

    await page.select('#preset', 'fix-worst');
    for (const [id, v] of [['pretrain-steps', '30'], ['ft-steps', '20'], ['eval-every', '5']]) {
      await page.$eval(`#${id}`, (el, value) => { (el as HTMLInputElement).value = value; el.dispatchEvent(new Event('input', { bubbles: true })); el.dispatchEvent(new Event('change', { bubbles: true })); }, v);
    }
    const t0 = performance.now();
    await page.click('#run');
    await page.waitForSelector('#status[data-state="done"], #status[data-state="error"], #status[data-state="stopped"]', { timeout: 120_000 });
    const status = await page.$eval('#status', (el) => el.textContent);
    console.log(`Firefox run: ${status} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    console.log(`Firefox run: ${await page.$eval('#eval-summary', (el) => el.textContent)}`);
    expect(await state(), status!).toBe('done');
    expect(await page.$eval('#hash-before', (el) => el.textContent)).toBe(await page.$eval('#hash-after', (el) => el.textContent));
    const acc = Number((await page.$eval('#eval-summary', (el) => el.textContent))!.match(/([\d.]+) %/)![1]);
    expect(acc).toBeGreaterThan(50);
    expect(errors).toEqual([]);
  });
});
