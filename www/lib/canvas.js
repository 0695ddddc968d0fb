// Shared canvas plumbing for the charts: a canvas that follows its CSS size
// at the device's pixel ratio and redraws when it changes, and the colours
// of the page's theme (read from CSS custom properties).

/**
 * Calls `draw(ctx, width, height)` (CSS pixels) now and whenever the canvas
 * is resized. Returns `redraw()`.
 * @param {HTMLCanvasElement} canvas
 * @param {(ctx: CanvasRenderingContext2D, w: number, h: number) => void} draw
 */
export function autoCanvas(canvas, draw) {
  const redraw = () => {
    const w = canvas.clientWidth || 300;
    const h = canvas.clientHeight || 150;
    const dpr = globalThis.devicePixelRatio || 1;
    const pw = Math.round(w * dpr);
    const ph = Math.round(h * dpr);
    if (canvas.width !== pw || canvas.height !== ph) {
      canvas.width = pw;
      canvas.height = ph;
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    draw(ctx, w, h);
  };
  if (typeof ResizeObserver === 'function') new ResizeObserver(() => redraw()).observe(canvas);
  redraw();
  return redraw;
}

/** A CSS custom property of the document (`--fg`, ...), with a fallback. */
export function themeColor(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

/** About `count` round tick values covering [lo, hi]. */
export function niceTicks(lo, hi, count = 5) {
  if (!(hi > lo)) {
    const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const first = Math.floor(lo / step + 1e-9);
  const last = Math.ceil(hi / step - 1e-9);
  const ticks = [];
  for (let k = first; k <= last; k++) ticks.push(Number((k * step).toPrecision(12)));
  return { ticks, lo: ticks[0], hi: ticks[ticks.length - 1], step };
}

/** Short text for a tick value. */
export function formatTick(v, step) {
  const digits = Math.max(0, -Math.floor(Math.log10(step)) + (step % 1 === 0 ? 0 : 1));
  return v.toFixed(Math.min(digits, 4));
}
