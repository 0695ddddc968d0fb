// The rounds the package benchmark times, shared by Node.js (bench.mjs) and
// the page (page.html): W1 (TFF's EMNIST tutorial: 10 writers, softmax,
// repeat(5).shuffle(100, 1).batch(20)) and a W2-sized round (cnn_dropout,
// 10 of the first 100 writers sampled per round as `fedwasm simulate
// --workload w2 --writers 100` samples them, 1 epoch, shuffle(100, 1).batch(20),
// client SGD 0.1). Each configuration runs `warmup` rounds, then `reps`
// timed rounds; the figure is the median.

export async function benchRounds(fw, { workload, workers, reps, warmup, pack }) {
  const { ClientData, models, optimizers, algorithms, WorkerPool, sampleClients } = fw;
  const w1 = workload === 'w1';
  const data = w1 ? await ClientData.femnistDigits() : await ClientData.fromFemnistPack(pack, { split: 'train' });
  const pool = workers > 0 ? await WorkerPool.create({ size: workers }) : null;
  try {
    const process = algorithms.buildWeightedFedAvg({
      model: w1 ? models.softmaxRegression() : models.cnnDropout(),
      clientOptimizer: optimizers.sgd({ learningRate: w1 ? 0.02 : 0.1 }),
      backend: 'cpu',
      pool,
    });
    let state = await process.initialize();
    const seconds = [];
    for (let r = 0; r < warmup + reps; r++) {
      const ids = w1 ? data.clientIds : sampleClients(data.clientIds, 10, { seed: 0, round: r });
      const datasets = ids.map((id) => {
        const d = data.createDataset(id);
        return (w1 ? d.repeat(5) : d).shuffle(100, { seed: 1 }).batch(20);
      });
      const t0 = performance.now();
      const out = await process.next(state, datasets);
      const dt = (performance.now() - t0) / 1000;
      state = out.state;
      if (r >= warmup) seconds.push(dt);
    }
    seconds.sort((a, b) => a - b);
    return { workload, workers, median_s: seconds[Math.floor(seconds.length / 2)], rounds: seconds };
  } finally {
    pool?.close();
  }
}
