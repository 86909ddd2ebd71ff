// "Draw a digit": a canvas for mouse, touch and pen (Pointer Events), and the preprocessing that
// turns a drawing into an MNIST-like 28×28 image, the way MNIST itself was made: crop to the ink's
// bounding box, fit it into 20×20 keeping the aspect ratio (area-averaged, so strokes become grey
// edges like MNIST's anti-aliasing), then place it in 28×28 so that its centre of mass sits at the
// centre. Values 0..255 like the training pixels (the darkest pixel becomes 255).

export const SIDE = 28;
export const BOX = 20;

/**
 * MNIST-style preprocessing of `ink` (one value 0..255 per pixel, row-major width × height).
 * Returns 784 values 0..255, or null when nothing is drawn (no pixel above `threshold`).
 */
export function preprocess(ink: ArrayLike<number>, width: number, height: number, threshold = 8): Uint8Array | null {
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (ink[y * width + x] > threshold) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  if (x1 < 0) return null;
  const bw = x1 - x0 + 1, bh = y1 - y0 + 1;
  const s = BOX / Math.max(bw, bh); // < 1 shrinks, > 1 enlarges a tiny drawing
  const tw = Math.max(1, Math.round(bw * s)), th = Math.max(1, Math.round(bh * s));
  // Each target pixel is the mean of the source pixels under it (at least the nearest one).
  const box = new Float64Array(tw * th);
  for (let ty = 0; ty < th; ty++) {
    const sy0 = Math.min(bh - 1, Math.floor(ty / s)), sy1 = Math.min(bh, Math.max(sy0 + 1, Math.ceil((ty + 1) / s)));
    for (let tx = 0; tx < tw; tx++) {
      const sx0 = Math.min(bw - 1, Math.floor(tx / s)), sx1 = Math.min(bw, Math.max(sx0 + 1, Math.ceil((tx + 1) / s)));
      let sum = 0;
      for (let sy = sy0; sy < sy1; sy++) for (let sx = sx0; sx < sx1; sx++) sum += ink[(y0 + sy) * width + x0 + sx];
      box[ty * tw + tx] = sum / ((sy1 - sy0) * (sx1 - sx0));
    }
  }
  let peak = 0, mass = 0, cx = 0, cy = 0;
  for (let ty = 0; ty < th; ty++) {
    for (let tx = 0; tx < tw; tx++) {
      const v = box[ty * tw + tx];
      peak = Math.max(peak, v);
      mass += v;
      cx += v * (tx + 0.5);
      cy += v * (ty + 0.5);
    }
  }
  const out = new Uint8Array(SIDE * SIDE);
  if (mass === 0) return out;
  // Shift so the centre of mass lands on the centre of the 28×28 field, keeping the box inside it.
  const ox = Math.min(SIDE - tw, Math.max(0, Math.round(SIDE / 2 - cx / mass)));
  const oy = Math.min(SIDE - th, Math.max(0, Math.round(SIDE / 2 - cy / mass)));
  for (let ty = 0; ty < th; ty++) {
    for (let tx = 0; tx < tw; tx++) out[(oy + ty) * SIDE + ox + tx] = Math.round((255 * box[ty * tw + tx]) / peak);
  }
  return out;
}

/**
 * Makes `canvas` a drawing surface; `onChange` gets the preprocessed 28×28 image (null when empty)
 * at most once per animation frame while drawing, and after clear() / show().
 */
export function drawingPad(canvas: HTMLCanvasElement, onChange: (image: Uint8Array | null) => void) {
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  const INK = 'rgb(17, 17, 17)';
  let last: { x: number; y: number } | null = null;
  let queued = false;

  const changed = () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      const rgba = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      const ink = new Uint8Array(canvas.width * canvas.height);
      for (let i = 0; i < ink.length; i++) ink[i] = rgba[4 * i + 3]; // ink = opacity
      onChange(preprocess(ink, canvas.width, canvas.height));
    });
  };
  const at = (e: PointerEvent) => ({
    x: (e.offsetX * canvas.width) / canvas.clientWidth,
    y: (e.offsetY * canvas.height) / canvas.clientHeight,
  });
  const line = (a: { x: number; y: number }, b: { x: number; y: number }) => {
    ctx.strokeStyle = INK;
    ctx.fillStyle = INK;
    ctx.lineWidth = canvas.width / 13; // ≈ MNIST's stroke once a 20-pixel-tall digit
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.beginPath();
    if (a.x === b.x && a.y === b.y) {
      ctx.arc(a.x, a.y, ctx.lineWidth / 2, 0, 2 * Math.PI);
      ctx.fill();
    } else {
      ctx.moveTo(a.x, a.y);
      ctx.lineTo(b.x, b.y);
      ctx.stroke();
    }
  };

  canvas.addEventListener('pointerdown', (e) => {
    if (e.button !== 0) return;
    canvas.setPointerCapture(e.pointerId);
    last = at(e);
    line(last, last);
    changed();
    e.preventDefault();
  });
  canvas.addEventListener('pointermove', (e) => {
    if (!last) return;
    const p = at(e);
    line(last, p);
    last = p;
    changed();
  });
  const end = () => { last = null; };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);

  return {
    clear() {
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      changed();
    },
    /** Shows a 28×28 image (e.g. a test digit) enlarged, as ink. */
    show(image: Uint8Array) {
      const small = new OffscreenCanvas(SIDE, SIDE);
      const sctx = small.getContext('2d')!;
      const data = sctx.createImageData(SIDE, SIDE);
      for (let i = 0; i < SIDE * SIDE; i++) data.data.set([17, 17, 17, image[i]], 4 * i);
      sctx.putImageData(data, 0, 0);
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
      changed();
    },
  };
}

/** Paints a 28×28 image white-on-black (MNIST's look) into a small canvas: what the models see. */
export function paintPreview(canvas: HTMLCanvasElement, image: Uint8Array | null): void {
  const ctx = canvas.getContext('2d')!;
  const data = ctx.createImageData(SIDE, SIDE);
  for (let i = 0; i < SIDE * SIDE; i++) {
    const v = image ? image[i] : 0;
    data.data.set([v, v, v, 255], 4 * i);
  }
  ctx.putImageData(data, 0, 0);
}
