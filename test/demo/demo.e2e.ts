// The demo page end to end, as a visitor gets it: the BUILT site (vite build → build/demo) served
// by `vite preview` with COOP/COEP on a free localhost port, opened in Debian's headless Chromium
// (playwright-core, executablePath; no browser download). After the page has loaded, the network
// is cut (context.setOffline) and everything else happens offline: a shortened experiment run to
// the end, a digit drawn with the mouse, downloads parsed with the library's own readers, the
// adapter loaded back, a run stopped. Saves the README's screenshot (docs/demo.png).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, preview, type PreviewServer } from 'vite';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS } from '../browser/chromium.js';
import { decodeBaseModel } from '../../src/io/checkpoint.js';
import { parsePeftAdapter } from '../../src/io/peft.js';

const ROOT = join(import.meta.dirname, '../..');
const CONFIG = join(ROOT, 'vite.demo.config.ts');
const OUT = join(ROOT, 'build/demo');
const SCREENSHOT = join(ROOT, 'docs/demo.png');

let server: PreviewServer | null = null, browser: Browser | null = null, context: BrowserContext | null = null;
let page: Page;
let base = '', tmp = '';
const errors: string[] = [];
const requests: string[] = [];

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));
}

beforeAll(async () => {
  const t0 = performance.now();
  execFileSync(process.execPath, ['scripts/build-wasm.mjs'], { cwd: ROOT, stdio: 'inherit' });
  execFileSync(process.execPath, ['scripts/demo-data.mjs'], { cwd: ROOT, stdio: 'inherit' });
  await build({ configFile: CONFIG, logLevel: 'warn' });
  console.log(`built the demo in ${((performance.now() - t0) / 1000).toFixed(1)} s; build/demo (bytes, gzip -9 bytes):`);
  for (const f of files(OUT).sort()) {
    const bytes = readFileSync(f);
    const gz = f.endsWith('.gz.bin') ? '(gzipped)' : String(gzipSync(bytes, { level: 9 }).length);
    console.log(`  ${relative(OUT, f).padEnd(50)} ${String(bytes.length).padStart(9)} ${gz.padStart(9)}`);
  }
  server = await preview({ configFile: CONFIG, logLevel: 'warn', preview: { host: '127.0.0.1', port: 0 } });
  base = server.resolvedUrls!.local[0];
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  context = await browser.newContext({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 0.7, acceptDownloads: true });
  page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('request', (r) => requests.push(r.url()));
  tmp = mkdtempSync(join(tmpdir(), 'wasm-lora-demo-'));
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const state = () => page.getAttribute('#status', 'data-state');
const text = (sel: string) => page.locator(sel).innerText();

describe('the demo page (built site, headless Chromium)', () => {
  it('loads MNIST and the engine from its own origin: cross-origin isolated, threaded', async () => {
    const t0 = performance.now();
    await page.goto(base);
    await page.waitForSelector('#status[data-state="ready"], #status[data-state="error"]', { timeout: 60_000 });
    console.log(`ready in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${await text('#engine')}`);
    expect(await state(), await text('#status')).toBe('ready');
    expect(await page.evaluate(() => globalThis.crossOriginIsolated)).toBe(true);
    const facts = await text('#engine');
    expect(facts).toMatch(/backend\s+wasm/);
    expect(facts).toMatch(/cross-origin isolated\s+yes/);
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    expect(Number(/threads\s+(\d+)/.exec(facts)?.[1])).toBe(cores);
    expect(requests.filter((u) => !u.startsWith(base) && !u.startsWith('data:') && !u.startsWith('blob:'))).toEqual([]);
    expect(requests.filter((u) => u.endsWith('.gz.bin'))).toHaveLength(4);
  });

  it('accessibility basics: every control labelled, real buttons, reachable by Tab with a visible focus', async () => {
    const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, select, button, canvas, progress, textarea')]
      .filter((el) => !((el as HTMLInputElement).labels?.length || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')
        || (el.tagName === 'BUTTON' && el.textContent!.trim())))
      .map((el) => el.outerHTML.slice(0, 80)));
    expect(unlabelled).toEqual([]);
    expect(await page.locator('[onclick], div[role="button"], span[role="button"]').count()).toBe(0);
    // Tab from the top: the run button and the drawing pad's Clear button are reached; focus is drawn.
    await page.locator('body').focus();
    const reached: { id: string; outline: string }[] = [];
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press('Tab');
      reached.push(await page.evaluate(() => {
        const el = document.activeElement as HTMLElement;
        const s = getComputedStyle(el);
        return { id: el.id, outline: `${s.outlineStyle} ${s.outlineWidth}` };
      }));
    }
    const ids = reached.map((r) => r.id);
    expect(ids).toContain('preset');
    expect(ids).toContain('run');
    expect(ids).toContain('clear');
    for (const r of reached.filter((x) => x.id)) expect(r.outline, r.id).toMatch(/^solid [2-9]/);
  });

  it('runs a shortened experiment offline to the end: live progress and loss, results, curve, frozen check', async () => {
    await context!.setOffline(true);
    await page.selectOption('#preset', 'fix-worst');
    await page.fill('#pretrain-steps', '30');
    await page.fill('#ft-steps', '20');
    await page.fill('#eval-every', '5');
    // Record, inside the page, what the UI shows while the run goes (a short run may end before
    // Playwright could look): the status when the loss chart first draws, and the progress values.
    await page.evaluate(() => {
      const w = window as unknown as { __live: { state: string | null; progress: number[] } };
      w.__live = { state: null, progress: [] };
      const bar = document.getElementById('progress') as HTMLProgressElement;
      new MutationObserver(() => w.__live.progress.push(bar.value)).observe(bar, { attributes: true });
      const chart = document.getElementById('loss-chart')!;
      new MutationObserver(() => {
        if (w.__live.state === null && chart.querySelector('polyline')) w.__live.state = document.getElementById('status')!.dataset.state ?? '';
      }).observe(chart, { childList: true, subtree: true });
    });
    const t0 = performance.now();
    await page.click('#run');
    await page.waitForSelector('#loss-chart polyline', { timeout: 60_000 });
    await page.waitForSelector('#status[data-state="done"], #status[data-state="error"], #status[data-state="stopped"]', { timeout: 90_000 });
    const seconds = (performance.now() - t0) / 1000;
    console.log(`run: ${await text('#status')} (${seconds.toFixed(1)} s)`);
    console.log(`run: ${await text('#eval-summary')}`);
    expect(await state(), await text('#status')).toBe('done');
    const recorded = await page.evaluate(() => (window as unknown as { __live: { state: string | null; progress: number[] } }).__live);
    // Live: the loss chart drew while the run was still going, and the progress bar moved.
    expect(recorded.state).toBe('running');
    expect(Math.max(...recorded.progress)).toBeGreaterThan(0);

    // Per-class bars (before and after), the fine-tuned class highlighted in the chart and the table.
    expect(await page.locator('#class-chart svg rect.worst').count()).toBe(1);
    expect(await page.locator('#class-chart svg rect title').count()).toBe(20);
    const table = await page.locator('#class-table').evaluate((t) => [...(t as HTMLTableElement).rows].map((r) => [...r.cells].map((c) => c.textContent!)));
    expect(table).toHaveLength(4);
    expect(table[1].slice(1, 11).map(Number).reduce((a, b) => a + b, 0)).toBe(Number(table[1][11]));
    const worst = await text('#class-table th.worst');
    expect(await text('.worst-label')).toBe(worst);
    // The confusion matrix: 10 × 10 counts of the 10,000 test images, before and after.
    for (const which of ['before', 'after']) {
      await page.selectOption('#confusion-which', which);
      const cells = await page.locator('#confusion td').allInnerTexts();
      expect(cells).toHaveLength(100);
      expect(cells.map(Number).reduce((a, b) => a + b, 0)).toBe(10_000);
    }
    expect(await page.locator('#confusion tr.worst th').innerText()).toBe(worst);
    // The trade-off curve: worst class and other classes, one point per validation.
    const curve = await page.locator('#curve-chart polyline').evaluateAll((ls) => ls.map((l) => l.getAttribute('points')!.split(' ').length));
    expect(curve).toHaveLength(2);
    expect(Math.min(...curve)).toBeGreaterThanOrEqual(2);
    // The frozen-weight check and the parameter counts.
    const before = await text('#hash-before'), after = await text('#hash-after');
    expect(before).toMatch(/^[0-9a-f]{64}$/);
    expect(after).toBe(before);
    expect(await text('#frozen-verdict')).toMatch(/identical/);
    expect(await text('#params')).toMatch(/2,804,000 frozen, 27,176 trainable/); // r 4 on all three layers
  });

  it('a digit drawn with the mouse is classified by both models, live; Clear works from the keyboard', async () => {
    const box = (await page.locator('#pad').boundingBox())!;
    const at = (x: number, y: number) => [box.x + x * box.width, box.y + y * box.height] as const;
    // A "7": the bar, then the diagonal down.
    await page.mouse.move(...at(0.25, 0.2));
    await page.mouse.down();
    await page.mouse.move(...at(0.75, 0.2), { steps: 8 });
    await page.mouse.move(...at(0.45, 0.85), { steps: 12 });
    await page.mouse.up();
    await page.waitForFunction(() => [...document.querySelectorAll<HTMLOutputElement>('.pred output')].every((o) => !!o.dataset.digit));
    const preds = await page.locator('.pred').evaluateAll((cols) => cols.map((c) => ({
      model: (c as HTMLElement).dataset.model,
      digit: c.querySelector('output')!.textContent,
      sum: [...c.querySelectorAll('.pct')].reduce((a, p) => a + parseFloat(p.textContent!), 0),
    })));
    console.log(`drawn "7": ${JSON.stringify(preds)}`);
    expect(preds.map((p) => p.model)).toEqual(['base', 'adapted']);
    for (const p of preds) {
      expect(p.digit).toMatch(/^[0-9]$/);
      expect(Math.abs(p.sum - 100)).toBeLessThan(0.6);
    }
    const ink = await page.locator('#preview').evaluate((c) => {
      const d = (c as HTMLCanvasElement).getContext('2d')!.getImageData(0, 0, 28, 28).data;
      let s = 0;
      for (let i = 0; i < d.length; i += 4) s += d[i];
      return s;
    });
    expect(ink).toBeGreaterThan(0);
    await page.focus('#clear');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => [...document.querySelectorAll<HTMLOutputElement>('.pred output')].every((o) => !o.dataset.digit));
    await page.click('#sample');
    await page.waitForFunction(() => [...document.querySelectorAll<HTMLOutputElement>('.pred output')].every((o) => !!o.dataset.digit));
  });

  it('downloads valid files: model.safetensors and the PEFT adapter; the adapter loads back and evaluates the same', async () => {
    const grab = async (button: string) => {
      const [d] = await Promise.all([page.waitForEvent('download'), page.click(button)]);
      const path = join(tmp, d.suggestedFilename());
      await d.saveAs(path);
      return { name: d.suggestedFilename(), path, bytes: new Uint8Array(readFileSync(path)) };
    };
    const model = await grab('#dl-model');
    expect(model.name).toBe('model.safetensors');
    expect(decodeBaseModel(model.bytes, model.name).layers).toEqual([784, 1000, 2000, 10]);
    const adapter = await grab('#dl-adapter');
    const config = await grab('#dl-config');
    expect([adapter.name, config.name]).toEqual(['adapter_model.safetensors', 'adapter_config.json']);
    const peft = parsePeftAdapter(new TextDecoder().decode(config.bytes), adapter.bytes);
    expect(peft).toMatchObject({ r: 4, alpha: 8, targetModules: ['fc1', 'fc2', 'fc3'] });
    console.log(`downloads: model.safetensors ${model.bytes.length} bytes, adapter_model.safetensors ${adapter.bytes.length}, adapter_config.json ${config.bytes.length}`);

    await page.setInputFiles('#load', [config.path, adapter.path]);
    await page.waitForFunction(() => /^Loaded|failed/.test(document.getElementById('files-status')!.textContent!), null, { timeout: 30_000 });
    const status = await text('#files-status');
    console.log(`load: ${status}`);
    const afterAccuracy = /→ (\d+\.\d+ %) after fine-tuning/.exec(await text('#eval-summary'))![1];
    expect(status).toContain(`test accuracy with it ${afterAccuracy}`);
    expect(await text('.pred[data-model="adapted"] h3')).toMatch(/loaded adapter/);
  });

  it('saves the screenshot for the README', async () => {
    await page.evaluate(() => window.scrollTo(0, 0));
    mkdirSync(join(ROOT, 'docs'), { recursive: true });
    const png = await page.screenshot({ fullPage: true });
    writeFileSync(SCREENSHOT, png);
    console.log(`screenshot: docs/demo.png, ${png.length} bytes`);
    expect(png.length).toBeLessThan(300_000);
  });

  it('Stop really stops a run; the page can run again', async () => {
    await page.selectOption('#preset', 'reference');
    await page.fill('#pretrain-steps', '');
    await page.click('#run');
    await page.waitForFunction(() => /^step/.test(document.getElementById('progress-text')!.textContent!), null, { timeout: 30_000 });
    const t0 = performance.now();
    await page.click('#stop');
    await page.waitForSelector('#status[data-state="stopped"]', { timeout: 10_000 });
    console.log(`stopped in ${(performance.now() - t0).toFixed(0)} ms: ${await text('#status')}`);
    expect(await text('#status')).toMatch(/aborted after \d+ of 468 steps/);
    expect(await page.locator('#run').isEnabled()).toBe(true);
    expect(await page.locator('#stop').isEnabled()).toBe(false);
  });

  it('readable contrast (WCAG AA) for the page text, and no console errors', async () => {
    const low = await page.evaluate(() => {
      const rgb = (s: string) => (s.match(/[\d.]+/g) ?? []).map(Number);
      const lum = ([r, g, b]: number[]) => {
        const f = (c: number) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
        return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
      };
      /** The element's background: its own and its ancestors' colours composited over white. */
      const background = (el: Element | null): number[] => {
        const layers: number[][] = [];
        for (; el; el = el.parentElement) {
          const c = rgb(getComputedStyle(el).backgroundColor);
          const a = c.length > 3 ? c[3] : 1;
          if (a > 0) layers.push([...c.slice(0, 3), a]);
          if (a >= 1) break;
        }
        let out = [255, 255, 255];
        for (const [r, g, b, a] of layers.reverse()) out = [r * a + out[0] * (1 - a), g * a + out[1] * (1 - a), b * a + out[2] * (1 - a)];
        return out;
      };
      const bad: string[] = [];
      for (const el of document.body.querySelectorAll('*')) {
        if (el.closest('svg') || !(el as HTMLElement).offsetParent && el.tagName !== 'BODY') continue;
        if (![...el.childNodes].some((n) => n.nodeType === 3 && n.textContent!.trim())) continue;
        const s = getComputedStyle(el);
        const l1 = lum(rgb(s.color)), l2 = lum(background(el));
        const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
        const large = parseFloat(s.fontSize) >= 24 || (parseFloat(s.fontSize) >= 18.66 && Number(s.fontWeight) >= 700);
        if (ratio < (large ? 3 : 4.5)) bad.push(`${el.tagName.toLowerCase()}#${el.id} "${el.textContent!.trim().slice(0, 30)}": ${ratio.toFixed(2)}`);
      }
      return bad;
    });
    expect(low).toEqual([]);
    expect(errors).toEqual([]);
  });
});
