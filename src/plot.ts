// A small SVG chart of a fine-tuning run's validation curve: errors of the target class and of
// all other classes against the step, the restored best point marked. Plain SVG strings, no
// library: two polylines and their axes are all it needs (the demo draws the same data live).

import type { CurvePoint } from './types.js';

export interface CurvePlotOptions {
  title?: string;
  targetClass?: number | null;
  best?: CurvePoint | null;
  width?: number;
  height?: number;
}

const esc = (s: string) => s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);

/** "Nice" tick values covering [0, max]. */
function ticks(max: number, count = 5): number[] {
  if (max <= 0) return [0];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  return Array.from({ length: Math.floor(max / step) + 1 }, (_, i) => i * step);
}

export function curveSvg(curve: CurvePoint[], opts: CurvePlotOptions = {}): string {
  const W = opts.width ?? 640, H = opts.height ?? 360;
  const m = { l: 56, r: 20, t: 48, b: 44 };
  const pw = W - m.l - m.r, ph = H - m.t - m.b;
  const maxStep = Math.max(1, ...curve.map((p) => p.step));
  const maxErr = Math.max(1, ...curve.flatMap((p) => [p.targetErrors, p.otherErrors])) * 1.1;
  const x = (s: number) => m.l + (s / maxStep) * pw;
  const y = (e: number) => m.t + ph - (e / maxErr) * ph;
  const line = (get: (p: CurvePoint) => number) => curve.map((p) => `${x(p.step).toFixed(1)},${y(get(p)).toFixed(1)}`).join(' ');
  const tc = opts.targetClass;
  const targetLabel = tc === null || tc === undefined ? 'all classes' : `class ${tc}`;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="12">`,
    `<title>${esc(opts.title ?? 'validation errors during fine-tuning')}</title>`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${m.l}" y="20" font-size="14" font-weight="600">${esc(opts.title ?? 'Validation errors during fine-tuning')}</text>`,
  ];
  for (const t of ticks(maxErr)) {
    parts.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${y(t)}" y2="${y(t)}" stroke="#e5e5e5"/>`,
      `<text x="${m.l - 6}" y="${y(t) + 4}" text-anchor="end" fill="#444">${t}</text>`);
  }
  for (const t of ticks(maxStep)) {
    parts.push(`<text x="${x(t)}" y="${m.t + ph + 16}" text-anchor="middle" fill="#444">${t}</text>`);
  }
  parts.push(
    `<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${m.t + ph}" stroke="#333"/>`,
    `<line x1="${m.l}" x2="${m.l + pw}" y1="${m.t + ph}" y2="${m.t + ph}" stroke="#333"/>`,
    `<text x="${m.l + pw / 2}" y="${H - 8}" text-anchor="middle" fill="#333">fine-tuning step</text>`,
    `<text transform="translate(14 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle" fill="#333">mislabeled validation images</text>`,
    `<polyline fill="none" stroke="#c2410c" stroke-width="2" points="${line((p) => p.targetErrors)}"/>`,
    `<polyline fill="none" stroke="#1d4ed8" stroke-width="2" stroke-dasharray="6 3" points="${line((p) => p.otherErrors)}"/>`,
  );
  if (opts.best) {
    const b = opts.best;
    parts.push(`<line x1="${x(b.step)}" x2="${x(b.step)}" y1="${m.t}" y2="${m.t + ph}" stroke="#15803d" stroke-dasharray="2 3"/>`,
      `<text x="${x(b.step) + 4}" y="${m.t + ph - 6}" fill="#15803d">best: step ${b.step}</text>`);
  }
  // Legend in the margin under the title, right-aligned, so it never covers the lines.
  const lx = m.l + pw - 230, ly = m.t - 8;
  parts.push(
    `<line x1="${lx}" x2="${lx + 24}" y1="${ly}" y2="${ly}" stroke="#c2410c" stroke-width="2"/>`,
    `<text x="${lx + 30}" y="${ly + 4}">${esc(targetLabel)}</text>`,
    `<line x1="${lx + 110}" x2="${lx + 134}" y1="${ly}" y2="${ly}" stroke="#1d4ed8" stroke-width="2" stroke-dasharray="6 3"/>`,
    `<text x="${lx + 140}" y="${ly + 4}">other classes</text>`,
    '</svg>',
  );
  return parts.join('\n') + '\n';
}
