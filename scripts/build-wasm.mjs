// Builds the four wasm kernel variants of asconfig.json (plain / relaxed SIMD × one thread /
// shared memory) with the AssemblyScript compiler's API, in one process. Skips the build when
// every output is newer than every source (npm start and npm test call this each time).
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import asc from 'assemblyscript/asc';
import { buildSync } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);
const config = JSON.parse(readFileSync(join(root, 'asconfig.json'), 'utf8'));
const targets = Object.keys(config.targets);
const sources = [join(root, 'asconfig.json'), ...readdirSync(join(root, 'assembly')).map((f) => join(root, 'assembly', f))];
const newestSource = Math.max(...sources.map((f) => statSync(f).mtimeMs));
const outputs = targets.map((t) => join(root, config.targets[t].outFile));
const upToDate = outputs.every((f) => existsSync(f) && statSync(f).mtimeMs >= newestSource);

if (upToDate && !process.argv.includes('--force')) {
  console.log(`wasm kernels up to date (${targets.join(', ')})`);
} else {
  for (const target of targets) {
    const t0 = performance.now();
    const { error, stderr } = await asc.main(['--config', join(root, 'asconfig.json'), '--target', target], {});
    if (error) {
      console.error(stderr.toString());
      console.error(`asc failed for target ${target}: ${error.message}`);
      process.exit(1);
    }
    const size = statSync(join(root, config.targets[target].outFile)).size;
    console.log(`built ${config.targets[target].outFile} (${size} bytes, ${(performance.now() - t0).toFixed(0)} ms)`);
  }
}

// The Node kernel thread, bundled to one plain .mjs: run from the TypeScript sources it would
// otherwise load tsx in every kernel thread (≈ 40 MB each); it is tiny and has no dependencies.
const threadSources = ['src/engine/threads.ts', 'workers/kernel-thread.node-worker.ts'].map((f) => join(root, f));
const threadOut = join(root, 'build/workers/kernel-thread.node-worker.mjs');
if (!existsSync(threadOut) || statSync(threadOut).mtimeMs < Math.max(...threadSources.map((f) => statSync(f).mtimeMs)) || process.argv.includes('--force')) {
  buildSync({ entryPoints: [threadSources[1]], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: threadOut, logLevel: 'warning' });
  console.log(`built ${threadOut.slice(root.length + 1)} (${statSync(threadOut).size} bytes)`);
}
