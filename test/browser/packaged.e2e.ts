// The packaged library in a fresh app, as a user would get it: `npm pack` (its prepack script
// builds the wasm kernels and dist/), the tarball unpacked into the node_modules of a new folder
// outside the repository next to a two-file app (test/fixtures/minimal-vite-app: index.html +
// main.js that does `import { Session } from 'wasm-lora'`), `vite build`, `vite preview` with
// COOP/COEP, and the page opened in Debian's headless Chromium through playwright-core. The app
// folder has nothing else installed: the browser build is self-contained.
//
// The same app also runs on Vite's dev server (the dependency optimizer pre-bundles the package).
// It also checks the download promise: a page on the wasm backend fetches exactly one wasm build
// and never the tfjs chunk; the tfjs chunk is fetched only when the page asks for WebGL.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, createServer, preview, type PreviewServer, type ViteDevServer } from 'vite';
import { chromium, type Browser } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, ISOLATION_HEADERS } from './chromium.js';

const ROOT = join(import.meta.dirname, '../..');
let app = '', server: PreviewServer | null = null, plain: PreviewServer | null = null, browser: Browser | null = null;
let dev: ViteDevServer | null = null;
let base = '', plainBase = '';

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));
}

interface PageResult {
  result: { info?: Record<string, unknown>; crossOriginIsolated?: boolean; losses?: number[]; accuracy?: number; error?: string };
  requests: string[];
}

async function open(query: string, at = base): Promise<PageResult> {
  const page = await browser!.newPage();
  const requests: string[] = [];
  page.on('request', (r) => requests.push(new URL(r.url()).pathname));
  page.on('worker', (w) => requests.push(new URL(w.url()).pathname));
  try {
    await page.goto(at + query);
    await page.waitForFunction(() => (window as unknown as { __result?: unknown }).__result !== undefined, null, { timeout: 180_000 });
    const result = await page.evaluate(() => (window as unknown as { __result: PageResult['result'] }).__result);
    return { result, requests };
  } finally {
    await page.close();
  }
}

beforeAll(async () => {
  app = mkdtempSync(join(tmpdir(), 'wasm-lora-app-'));
  execFileSync('npm', ['pack', '--pack-destination', app], { cwd: ROOT, stdio: 'pipe' });
  const tgz = readdirSync(app).find((f) => f.endsWith('.tgz'));
  if (!tgz) throw new Error('npm pack produced no tarball');
  const pkg = join(app, 'node_modules', 'wasm-lora');
  mkdirSync(pkg, { recursive: true });
  execFileSync('tar', ['-xzf', join(app, tgz), '-C', pkg, '--strip-components=1']);
  cpSync(join(ROOT, 'test/fixtures/minimal-vite-app'), app, { recursive: true });
  await build({ root: app, configFile: false, logLevel: 'warn', build: { outDir: 'dist', target: 'es2022' }, worker: { format: 'es' } });
  server = await preview({ root: app, configFile: false, logLevel: 'warn', build: { outDir: 'dist' }, preview: { host: '127.0.0.1', port: 0, headers: ISOLATION_HEADERS } });
  base = server.resolvedUrls!.local[0];
  // The same site without COOP/COEP: not cross-origin isolated, so no shared memory.
  plain = await preview({ root: app, configFile: false, logLevel: 'warn', build: { outDir: 'dist' }, preview: { host: '127.0.0.1', port: 0 } });
  plainBase = plain.resolvedUrls!.local[0];
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await plain?.close();
  await dev?.close();
  if (app) rmSync(app, { recursive: true, force: true });
});

describe('the packed library in a fresh Vite app (headless Chromium)', () => {
  it('the tarball carries the browser build; the app build splits it into entry, workers, wasm and a tfjs chunk', () => {
    const pkg = join(app, 'node_modules', 'wasm-lora');
    const dist = files(join(pkg, 'dist')).map((f) => relative(pkg, f));
    expect(dist).toContain('dist/wasm-lora.js');
    expect(dist.filter((f) => f.endsWith('.wasm'))).toHaveLength(4);
    const built = files(join(app, 'dist')).map((f) => ({ name: relative(join(app, 'dist'), f), bytes: statSync(f).size, gzip: gzipSync(readFileSync(f)).length }));
    console.log('the fresh app\'s build (bytes, gzip -9 bytes):');
    for (const f of built.sort((a, b) => a.name.localeCompare(b.name))) console.log(`  ${f.name.padEnd(52)} ${String(f.bytes).padStart(9)} ${String(f.gzip).padStart(9)}`);
    expect(built.some((f) => /webgl-kernels/.test(f.name))).toBe(true);
    expect(built.some((f) => /engine\.worker/.test(f.name))).toBe(true);
  });

  it('trains on wasm, threaded (cross-origin isolated), fetching one wasm build and no tfjs', async () => {
    const { result, requests } = await open('?backend=wasm');
    console.log(`wasm page: ${JSON.stringify({ ...result, losses: result.losses?.map((l) => +l.toFixed(4)) })}`);
    console.log(`wasm page fetched: ${requests.join(', ')}`);
    expect(result.error).toBeUndefined();
    expect(result.crossOriginIsolated).toBe(true);
    expect(result.info).toMatchObject({ backend: 'wasm', runtime: 'browser' });
    expect(result.info!.threads as number).toBeGreaterThan(1);
    expect(result.accuracy!).toBeGreaterThanOrEqual(0.95);
    expect(result.losses!.at(-1)!).toBeLessThan(result.losses![0]);
    expect(requests.filter((r) => r.endsWith('.wasm'))).toHaveLength(1);
    expect(requests.some((r) => /webgl-kernels/.test(r))).toBe(false);
  });

  it('without cross-origin isolation it runs one worker, says why, and trains the same', async () => {
    const isolated = await open('?backend=wasm');
    const { result } = await open('?backend=wasm', plainBase);
    console.log(`page without COOP/COEP: ${JSON.stringify(result.info)}`);
    expect(result.error).toBeUndefined();
    expect(result.crossOriginIsolated).toBe(false);
    expect(result.info).toMatchObject({ backend: 'wasm', threads: 1 });
    expect(String(result.info!.note)).toMatch(/cross-origin isolated/);
    expect(result.losses).toEqual(isolated.result.losses); // threads never change the numbers
  });

  it('trains on WebGL when asked, fetching the tfjs chunk only then', async () => {
    const { result, requests } = await open('?backend=webgl');
    console.log(`webgl page: ${JSON.stringify({ ...result, losses: result.losses?.map((l) => +l.toFixed(4)) })}`);
    expect(result.error).toBeUndefined();
    expect(result.info).toMatchObject({ backend: 'webgl', kernels: 'webgl-tfjs' });
    expect(result.accuracy!).toBeGreaterThanOrEqual(0.95);
    expect(requests.some((r) => /webgl-kernels/.test(r))).toBe(true);
    expect(requests.filter((r) => r.endsWith('.wasm'))).toHaveLength(0);
  });

  it("runs on Vite's dev server too (wasm and WebGL)", async () => {
    dev = await createServer({ root: app, configFile: false, logLevel: 'warn', server: { host: '127.0.0.1', port: 0, headers: ISOLATION_HEADERS } });
    await dev.listen();
    const at = dev.resolvedUrls!.local[0];
    for (const backend of ['wasm', 'webgl']) {
      const { result } = await open(`?backend=${backend}`, at);
      console.log(`dev server, ${backend}: ${JSON.stringify(result.info)}; accuracy ${result.accuracy}`);
      expect(result.error).toBeUndefined();
      expect(result.info).toMatchObject({ backend });
      expect(result.accuracy!).toBeGreaterThanOrEqual(0.95);
    }
  });
});
