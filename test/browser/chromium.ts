// How the browser tests start Chromium: Debian's package (never a downloaded browser), headless,
// with the flags TOOLCHAIN.md lists (SwiftShader WebGL included). CHROMIUM_PATH overrides the path.
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--enable-unsafe-swiftshader',
];
/** Cross-origin isolation: SharedArrayBuffer and therefore kernel threads. */
export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};
