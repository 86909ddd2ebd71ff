// The demo's "draw a digit" preprocessing (demo/draw.ts), checked in Node: a drawing becomes an
// MNIST-like 28×28 image (ink's bounding box fitted into 20×20 keeping the aspect ratio, centre
// of mass at the centre, values 0..255), and a real MNIST digit comes back almost unchanged.
import { describe, expect, it } from 'vitest';
import { loadMnist } from '../../src/mnist-node.js';
import { BOX, preprocess, SIDE } from '../../demo/draw.js';

function stats(img: Uint8Array) {
  let x0 = SIDE, y0 = SIDE, x1 = -1, y1 = -1, mass = 0, cx = 0, cy = 0, peak = 0;
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      const v = img[y * SIDE + x];
      if (v > 0) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
      mass += v; cx += v * (x + 0.5); cy += v * (y + 0.5); peak = Math.max(peak, v);
    }
  }
  return { w: x1 - x0 + 1, h: y1 - y0 + 1, cx: cx / mass, cy: cy / mass, peak };
}

/** A width × height canvas with ink (255) in the given rectangles. */
function canvas(width: number, height: number, rects: [number, number, number, number][]): Uint8Array {
  const ink = new Uint8Array(width * height);
  for (const [x, y, w, h] of rects) for (let j = y; j < y + h; j++) for (let i = x; i < x + w; i++) ink[j * width + i] = 255;
  return ink;
}

describe('demo: MNIST-style preprocessing of a drawing', () => {
  it('returns null for an empty drawing', () => {
    expect(preprocess(new Uint8Array(280 * 280), 280, 280)).toBeNull();
  });

  it('fits a tall stroke into 20 pixels of height, keeps its aspect ratio, centres its mass', () => {
    // An "L" in the top-left corner of a 280×280 canvas: 40 wide, 200 tall.
    const img = preprocess(canvas(280, 280, [[10, 10, 12, 200], [10, 198, 40, 12]]), 280, 280)!;
    const s = stats(img);
    expect(s.h).toBe(BOX);
    expect(s.w).toBe(Math.round(40 * (BOX / 200)));
    expect(s.peak).toBe(255);
    expect(Math.abs(s.cx - SIDE / 2)).toBeLessThanOrEqual(0.5);
    expect(Math.abs(s.cy - SIDE / 2)).toBeLessThanOrEqual(0.5);
  });

  it('enlarges a tiny drawing to the 20-pixel box', () => {
    const img = preprocess(canvas(100, 100, [[50, 50, 5, 10]]), 100, 100)!;
    const s = stats(img);
    expect(s.h).toBe(BOX);
    expect(s.w).toBe(BOX / 2);
  });

  it('leaves real MNIST test digits nearly as they are (they were made this way)', async () => {
    const { test } = await loadMnist();
    let worst = 0;
    for (let i = 0; i < 200; i++) {
      const orig = test.images.subarray(i * 784, (i + 1) * 784);
      const again = preprocess(orig, SIDE, SIDE)!;
      const a = stats(orig), b = stats(again);
      // Same place (centre of mass within a pixel), same size within a pixel.
      worst = Math.max(worst, Math.abs(a.cx - b.cx), Math.abs(a.cy - b.cy));
      expect(Math.abs(Math.max(a.w, a.h) - Math.max(b.w, b.h))).toBeLessThanOrEqual(1);
    }
    expect(worst).toBeLessThan(1.5);
  });
});
