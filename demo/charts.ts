// The demo's charts: plain SVG strings (a few polylines and bars, redrawn whole on each update;
// at most a few hundred points), plus the confusion matrix as an HTML table. No chart library:
// these three pictures need axes, ticks, a legend and a highlight, which is less code than
// configuring one, and the page stays a few KiB. Text is escaped; every chart is role="img" with
// a label, and its numbers are also in the page's tables.

const esc = (s: string) => s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
const fmt = (v: number) => (Math.abs(v) >= 1000 ? v.toLocaleString('en-US') : String(+v.toPrecision(3)));

/** "Nice" tick values covering [0, max]: steps of 1, 2 or 5 × 10^k. */
export function ticks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw * (1 - 1e-9))!;
  return Array.from({ length: Math.floor(max / step + 1e-9) + 1 }, (_, i) => +(i * step).toPrecision(12));
}

const W = 560, H = 300;
const M = { l: 56, r: 16, t: 40, b: 44 };
const PW = W - M.l - M.r, PH = H - M.t - M.b;

function frame(title: string, xLabel: string, yLabel: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}" font-size="13">`,
    `<title>${esc(title)}</title>`,
    ...body,
    `<line x1="${M.l}" x2="${M.l}" y1="${M.t}" y2="${M.t + PH}" stroke="#333"/>`,
    `<line x1="${M.l}" x2="${M.l + PW}" y1="${M.t + PH}" y2="${M.t + PH}" stroke="#333"/>`,
    `<text x="${M.l + PW / 2}" y="${H - 6}" text-anchor="middle" fill="#333">${esc(xLabel)}</text>`,
    `<text transform="translate(14 ${M.t + PH / 2}) rotate(-90)" text-anchor="middle" fill="#333">${esc(yLabel)}</text>`,
    '</svg>',
  ].join('\n');
}

function legend(items: { name: string; color: string; dash?: string; box?: boolean }[]): string[] {
  const out: string[] = [];
  let x = M.l;
  for (const it of items) {
    out.push(it.box
      ? `<rect x="${x}" y="${M.t - 24}" width="14" height="12" fill="${it.color}"/>`
      : `<line x1="${x}" x2="${x + 22}" y1="${M.t - 18}" y2="${M.t - 18}" stroke="${it.color}" stroke-width="2.5"${it.dash ? ` stroke-dasharray="${it.dash}"` : ''}/>`,
    `<text x="${x + (it.box ? 19 : 27)}" y="${M.t - 13}" fill="#222">${esc(it.name)}</text>`);
    x += (it.box ? 30 : 38) + 7.2 * it.name.length;
  }
  return out;
}

export interface Series {
  name: string;
  color: string;
  dash?: string;
  points: [number, number][];
}

/** A line chart: one polyline per series (a dot where it has a single point), y from 0. */
export function lineChart(series: Series[], o: { title: string; xLabel: string; yLabel: string; xMax?: number; marker?: { x: number; label: string } | null }): string {
  const all = series.flatMap((s) => s.points);
  const xMax = Math.max(1, o.xMax ?? 0, ...all.map((p) => p[0]));
  const yTicks = ticks(Math.max(1e-9, ...all.map((p) => p[1])) * 1.05);
  const yMax = Math.max(yTicks.at(-1)!, 1e-9);
  const x = (v: number) => M.l + (v / xMax) * PW;
  const y = (v: number) => M.t + PH - (Math.min(v, yMax) / yMax) * PH;
  const body: string[] = [];
  for (const t of yTicks) {
    body.push(`<line x1="${M.l}" x2="${M.l + PW}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#e2e2e2"/>`,
      `<text x="${M.l - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end" fill="#444">${fmt(t)}</text>`);
  }
  for (const t of ticks(xMax, 6)) body.push(`<text x="${x(t).toFixed(1)}" y="${M.t + PH + 17}" text-anchor="middle" fill="#444">${fmt(t)}</text>`);
  if (o.marker) {
    const mx = x(o.marker.x).toFixed(1);
    body.push(`<line x1="${mx}" x2="${mx}" y1="${M.t}" y2="${M.t + PH}" stroke="#166534" stroke-dasharray="3 3"/>`,
      `<text x="${+mx + 4}" y="${M.t + 14}" fill="#166534">${esc(o.marker.label)}</text>`);
  }
  for (const s of series) {
    if (s.points.length === 1) {
      const [px, py] = s.points[0];
      body.push(`<circle cx="${x(px).toFixed(1)}" cy="${y(py).toFixed(1)}" r="3" fill="${s.color}"/>`);
    } else if (s.points.length > 1) {
      const pts = s.points.map(([px, py]) => `${x(px).toFixed(1)},${y(py).toFixed(1)}`).join(' ');
      body.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" stroke-linejoin="round"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''} points="${pts}" data-series="${esc(s.name)}"/>`);
    }
  }
  body.push(...legend(series));
  return frame(o.title, o.xLabel, o.yLabel, body);
}

export interface BarSeries {
  name: string;
  color: string;
  values: number[];
}

/** Grouped bars per category (e.g. mislabeled images per class, before and after); one category highlighted. */
export function barChart(categories: string[], series: BarSeries[], o: { title: string; xLabel: string; yLabel: string; highlight?: number | null; highlightLabel?: string }): string {
  const yTicks = ticks(Math.max(1, ...series.flatMap((s) => s.values)) * 1.05);
  const yMax = yTicks.at(-1)!;
  const y = (v: number) => M.t + PH - (v / yMax) * PH;
  const gw = PW / categories.length, bw = (gw * 0.7) / Math.max(1, series.length);
  const body: string[] = [];
  const band = o.highlight !== null && o.highlight !== undefined;
  if (band) body.push(`<rect x="${(M.l + o.highlight! * gw).toFixed(1)}" y="${M.t}" width="${gw.toFixed(1)}" height="${PH}" fill="#fde68a" class="worst"/>`);
  for (const t of yTicks) {
    body.push(`<line x1="${M.l}" x2="${M.l + PW}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#e2e2e2"/>`,
      `<text x="${M.l - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end" fill="#444">${fmt(t)}</text>`);
  }
  categories.forEach((c, i) => {
    const gx = M.l + i * gw + gw * 0.15;
    series.forEach((s, k) => {
      const v = s.values[i] ?? 0;
      body.push(`<rect x="${(gx + k * bw).toFixed(1)}" y="${y(v).toFixed(1)}" width="${(bw - 1).toFixed(1)}" height="${(M.t + PH - y(v)).toFixed(1)}" fill="${s.color}"><title>${esc(`${c}, ${s.name}: ${v}`)}</title></rect>`);
    });
    body.push(`<text x="${(M.l + (i + 0.5) * gw).toFixed(1)}" y="${M.t + PH + 17}" text-anchor="middle" fill="#222"${i === o.highlight ? ' font-weight="700"' : ''}>${esc(c)}</text>`);
  });
  body.push(...legend([...series.map((s) => ({ ...s, box: true })), ...(band && o.highlightLabel ? [{ name: o.highlightLabel, color: '#fde68a', box: true }] : [])]));
  return frame(o.title, o.xLabel, o.yLabel, body);
}

/**
 * The confusion matrix as table rows (rows: true class, columns: predicted), off-diagonal cells
 * shaded by their share of the largest error count; the highlighted class's row is marked.
 */
export function confusionRows(m: number[][], highlight: number | null): string {
  let maxOff = 1;
  m.forEach((row, t) => row.forEach((v, p) => { if (t !== p) maxOff = Math.max(maxOff, v); }));
  const head = `<thead><tr><th scope="col"><span class="sr-only">true class</span></th>${
    m.map((_, p) => `<th scope="col">${p}</th>`).join('')}</tr></thead>`;
  const rows = m.map((row, t) => `<tr${t === highlight ? ' class="worst"' : ''}><th scope="row">${t}</th>${row.map((v, p) => {
    const a = t === p ? 0 : Math.min(0.6, (0.6 * v) / maxOff);
    const style = t === p ? ' class="diag"' : a > 0 ? ` style="background: rgba(194, 65, 12, ${a.toFixed(2)})"` : '';
    return `<td${style}>${v}</td>`;
  }).join('')}</tr>`).join('');
  return `${head}<tbody>${rows}</tbody>`;
}
