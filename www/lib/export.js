// The metrics history as CSV (one row a round) or JSON (everything, with
// TFF's metric names), and a download of either.

function backendText(b) {
  if (!b) return '';
  return (Array.isArray(b) ? b : [b]).map((x) => `${x.kind}: ${x.adapter}`).join(' | ');
}

/** One row a round; empty cells for what a round lacks (round 0 has no training). */
export function toCSV(history) {
  const cols = [
    ['round', (r) => r.round],
    ['seconds', (r) => r.seconds],
    ['clients', (r) => r.clients ?? 0],
    ['train_examples', (r) => r.train?.examples],
    ['train_loss', (r) => r.train?.loss],
    ['train_accuracy', (r) => r.train?.accuracy],
    ['train_rmse', (r) => r.train?.rmse],
    ['eval_examples', (r) => r.eval?.examples],
    ['eval_loss', (r) => r.eval?.loss],
    ['eval_accuracy', (r) => r.eval?.accuracy],
    ['eval_rmse', (r) => r.eval?.rmse],
    ['backend', (r) => backendText(r.backend)],
  ];
  const cell = (v) => {
    if (v === undefined || v === null) return '';
    const s = String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const lines = [cols.map(([name]) => name).join(',')];
  for (const r of history) lines.push(cols.map(([, get]) => cell(get(r))).join(','));
  return `${lines.join('\n')}\n`;
}

export function toJSON(run) {
  return `${JSON.stringify(run, null, 2)}\n`;
}

/** Offers `text` as a file download. */
export function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
