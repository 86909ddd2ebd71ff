// npm run test:demo: the demo page's end-to-end test (test/demo/demo.e2e.ts), alone, in Node. It
// builds the site (vite build), serves it with vite preview and drives Debian's Chromium through
// playwright-core. Kept out of `npm test` (Node) and `npm run test:browser`; .ci/run runs all three.
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: join(import.meta.dirname, '../..'),
  test: {
    include: ['test/demo/**/*.e2e.ts'],
    environment: 'node',
    testTimeout: 120_000,
    hookTimeout: 240_000,
  },
});
