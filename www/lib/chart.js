// A small line chart on canvas for metrics per round (no dependency: the
// page must work offline). Each series is a list of `[x, y]` points; a
// series can be dashed so that it is told apart without colour. The canvas
// is an image with a text alternative (`aria-label`) that names the latest
// values; the page also keeps every value in a table.
import { autoCanvas, formatTick, niceTicks, themeColor } from './canvas.js';

export class LineChart {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{ title: string, xLabel?: string, series: { name: string, color: string, dash?: number[] }[] }} options
   */
  constructor(canvas, { title, xLabel = 'round', series }) {
    this.canvas = canvas;
    this.title = title;
    this.xLabel = xLabel;
    this.series = series.map((s) => ({ ...s, points: [] }));
    canvas.setAttribute('role', 'img');
    this.redraw = autoCanvas(canvas, (ctx, w, h) => this.#draw(ctx, w, h));
    this.#describe();
  }

  /** Replaces the title (the task changes what the chart shows). */
  setTitle(title) {
    this.title = title;
    this.#update();
  }

  /** Replaces every series' points: `points[i]` for series i. */
  setData(points) {
    this.series.forEach((s, i) => {
      s.points = (points[i] ?? []).filter(([, y]) => Number.isFinite(y));
    });
    this.#update();
  }

  clear() {
    this.setData([]);
  }

  #update() {
    this.redraw();
    this.#describe();
  }

  #describe() {
    const parts = this.series.map((s) => {
      const last = s.points[s.points.length - 1];
      return last ? `${s.name} ${last[1].toFixed(4)} at ${this.xLabel} ${last[0]}` : `${s.name}: no data yet`;
    });
    this.canvas.setAttribute('aria-label', `${this.title}: ${parts.join('; ')}`);
  }

  #draw(ctx, w, h) {
    const fg = themeColor('--fg', '#1b1b1f');
    const muted = themeColor('--muted', '#5f6368');
    const grid = themeColor('--grid', '#e3e3e8');
    const all = this.series.flatMap((s) => s.points);
    const font = '12px system-ui, sans-serif';
    ctx.font = font;
    ctx.textBaseline = 'middle';

    const xs = all.map(([x]) => x);
    const ys = all.map(([, y]) => y);
    const xMax = Math.max(1, ...xs);
    const xMin = Math.min(0, ...xs);
    const yt = niceTicks(ys.length ? Math.min(...ys) : 0, ys.length ? Math.max(...ys) : 1, h < 180 ? 3 : 5);
    const yLabels = yt.ticks.map((v) => formatTick(v, yt.step));
    const left = 8 + Math.max(...yLabels.map((t) => ctx.measureText(t).width));
    const pad = { left: left + 6, right: 12, top: 10, bottom: 30 };
    const pw = Math.max(10, w - pad.left - pad.right);
    const ph = Math.max(10, h - pad.top - pad.bottom);
    const X = (x) => pad.left + ((x - xMin) / (xMax - xMin || 1)) * pw;
    const Y = (y) => pad.top + (1 - (y - yt.lo) / (yt.hi - yt.lo || 1)) * ph;

    // Grid and y ticks.
    ctx.strokeStyle = grid;
    ctx.lineWidth = 1;
    ctx.fillStyle = muted;
    ctx.textAlign = 'right';
    yt.ticks.forEach((v, i) => {
      const y = Math.round(Y(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(pad.left, y);
      ctx.lineTo(pad.left + pw, y);
      ctx.stroke();
      ctx.fillText(yLabels[i], pad.left - 6, y);
    });
    // x ticks: whole rounds.
    const xt = niceTicks(xMin, xMax, Math.max(2, Math.floor(pw / 60)));
    const xStep = Math.max(1, Math.round(xt.step));
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    for (let v = Math.ceil(xMin / xStep) * xStep; v <= xMax; v += xStep) {
      ctx.fillText(String(v), X(v), pad.top + ph + 6);
    }
    ctx.fillText(this.xLabel, pad.left + pw / 2, pad.top + ph + 18 > h - 12 ? h - 12 : pad.top + ph + 18);
    // Axes.
    ctx.strokeStyle = muted;
    ctx.beginPath();
    ctx.moveTo(pad.left + 0.5, pad.top);
    ctx.lineTo(pad.left + 0.5, pad.top + ph + 0.5);
    ctx.lineTo(pad.left + pw, pad.top + ph + 0.5);
    ctx.stroke();

    if (all.length === 0) {
      ctx.fillStyle = muted;
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillText('no rounds yet', pad.left + pw / 2, pad.top + ph / 2);
      return;
    }
    for (const s of this.series) {
      if (s.points.length === 0) continue;
      ctx.strokeStyle = s.color;
      ctx.fillStyle = s.color;
      ctx.lineWidth = 2;
      ctx.setLineDash(s.dash ?? []);
      ctx.beginPath();
      s.points.forEach(([x, y], i) => (i === 0 ? ctx.moveTo(X(x), Y(y)) : ctx.lineTo(X(x), Y(y))));
      ctx.stroke();
      ctx.setLineDash([]);
      for (const [x, y] of s.points) {
        ctx.beginPath();
        ctx.arc(X(x), Y(y), 2.5, 0, 2 * Math.PI);
        ctx.fill();
      }
    }
    ctx.fillStyle = fg;
  }
}
