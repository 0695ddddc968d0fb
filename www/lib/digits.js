// Draws 28x28 digits (784 floats in [0, 1] each, row-major) onto a canvas as
// grey levels, as stored: LEAF and TFF's EMNIST have background 1.0 (white)
// and ink near 0 (black).

const SIDE = 28;

/**
 * @param {HTMLCanvasElement} canvas
 * @param {{ x: Float32Array, y: Float32Array }} examples
 * @param {{ scale?: number, columns?: number }} [options]
 */
export function drawDigits(canvas, { x, y }, { scale = 2, columns = 10 } = {}) {
  const n = y.length;
  const cols = Math.max(1, Math.min(columns, n));
  const rows = Math.max(1, Math.ceil(n / cols));
  const cell = SIDE + 2;
  const image = new ImageData(cols * cell, rows * cell);
  image.data.fill(255);
  for (let k = 0; k < n; k++) {
    const ox = (k % cols) * cell + 1;
    const oy = Math.floor(k / cols) * cell + 1;
    for (let r = 0; r < SIDE; r++) {
      for (let c = 0; c < SIDE; c++) {
        const v = Math.max(0, Math.min(255, Math.round(x[k * SIDE * SIDE + r * SIDE + c] * 255)));
        const p = ((oy + r) * cols * cell + ox + c) * 4;
        image.data[p] = v;
        image.data[p + 1] = v;
        image.data[p + 2] = v;
      }
    }
  }
  canvas.width = cols * cell * scale;
  canvas.height = rows * cell * scale;
  canvas.style.aspectRatio = `${cols} / ${rows}`;
  const off = new OffscreenCanvas(cols * cell, rows * cell);
  off.getContext('2d').putImageData(image, 0, 0);
  const ctx = canvas.getContext('2d');
  ctx.imageSmoothingEnabled = false;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(off, 0, 0, canvas.width, canvas.height);
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', n ? `${n} handwritten digits, labelled ${Array.from(y).join(', ')}` : 'no digits');
}
