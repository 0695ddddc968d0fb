// A bar chart on canvas: examples per client (the non-IID view of TFF's
// EMNIST tutorial) and the label counts of one client. One bar can be
// highlighted; a click picks a bar (the page also offers a <select>, so the
// keyboard reaches every client).
import { autoCanvas, formatTick, niceTicks, themeColor } from './canvas.js';

export class BarChart {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{ title: string, onPick?: (index: number) => void }} options
   */
  constructor(canvas, { title, onPick }) {
    this.canvas = canvas;
    this.title = title;
    this.labels = [];
    this.values = [];
    this.highlight = -1;
    canvas.setAttribute('role', 'img');
    this.redraw = autoCanvas(canvas, (ctx, w, h) => this.#draw(ctx, w, h));
    if (onPick) {
      canvas.addEventListener('click', (ev) => {
        const i = this.#barAt(ev.offsetX);
        if (i >= 0) onPick(i);
      });
    }
  }

  /** `labels[i]` names bar i (shown when they fit); `highlight`: the bar to mark. */
  setData({ title = this.title, labels, values, highlight = -1, describe }) {
    this.title = title;
    this.labels = labels;
    this.values = values;
    this.highlight = highlight;
    this.redraw();
    this.canvas.setAttribute('aria-label', describe ?? `${title}: ${values.length} bars`);
  }

  #geometry(w) {
    const left = 44;
    const pw = Math.max(10, w - left - 8);
    return { left, pw, bw: pw / Math.max(1, this.values.length) };
  }

  #barAt(x) {
    const { left, bw } = this.#geometry(this.canvas.clientWidth);
    const i = Math.floor((x - left) / bw);
    return i >= 0 && i < this.values.length ? i : -1;
  }

  #draw(ctx, w, h) {
    const muted = themeColor('--muted', '#5f6368');
    const grid = themeColor('--grid', '#e3e3e8');
    const bar = themeColor('--bar', '#4e79a7');
    const mark = themeColor('--accent', '#d95f02');
    const { left, pw, bw } = this.#geometry(w);
    const top = 8;
    const bottom = 22;
    const ph = Math.max(10, h - top - bottom);
    const yt = niceTicks(0, Math.max(1, ...this.values), 4);
    const Y = (v) => top + (1 - v / yt.hi) * ph;
    ctx.font = '11px system-ui, sans-serif';
    ctx.fillStyle = muted;
    ctx.strokeStyle = grid;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (const v of yt.ticks) {
      const y = Math.round(Y(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(left + pw, y);
      ctx.stroke();
      ctx.fillText(formatTick(v, yt.step), left - 4, y);
    }
    const gap = bw > 6 ? Math.min(4, bw * 0.2) : 0;
    this.values.forEach((v, i) => {
      ctx.fillStyle = i === this.highlight ? mark : bar;
      const y = Y(v);
      ctx.fillRect(left + i * bw + gap / 2, y, Math.max(1, bw - gap), top + ph - y);
    });
    // Labels under the bars, thinned to what fits.
    ctx.fillStyle = muted;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    const widest = Math.max(1, ...this.labels.map((l) => ctx.measureText(String(l)).width)) + 6;
    const every = Math.max(1, Math.ceil(widest / bw));
    this.labels.forEach((l, i) => {
      if (i % every === 0 || i === this.highlight) ctx.fillText(String(l), left + (i + 0.5) * bw, top + ph + 4);
    });
  }
}
