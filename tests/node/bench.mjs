// The benchmarks of the wasm32 build under Node.js: the same code and the same
// measurement as the native `fedwasm bench train` / `fedwasm bench recon`
// (crate/src/bench/).
//
//   bash tests/build-node-pkg.sh
//   node tests/node/bench.mjs --model softmax --batch 20 [--examples N] [--epochs N] [--json]
//   node tests/node/bench.mjs --model recon [--clients 50] [--rounds 7] [--json]
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const fedwasm = require(new URL('../../target/pkg-node/fedwasm.js', import.meta.url).pathname);

const args = process.argv.slice(2);
function flag(name, fallback) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}
const model = flag('model', 'softmax');
if (model === 'recon') {
  const r = JSON.parse(
    await fedwasm.benchRecon(Number(flag('clients', 50)), Number(flag('rounds', 7))),
  );
  if (args.includes('--json')) {
    console.log(JSON.stringify(r));
  } else {
    console.log(
      `wasm32 (Node ${process.versions.node}) reconstruction round, ${r.config.clients} clients: ` +
        `${(r.round_seconds * 1e3).toFixed(2)} ms (median of ${r.config.rounds}; best ` +
        `${(r.best_round_seconds * 1e3).toFixed(2)}; ${(r.train_seconds * 1e3).toFixed(2)} ms in ` +
        `reconstruct_and_train) = ${r.example_steps_per_second.toFixed(0)} example-steps/s`,
    );
  }
  process.exit(0);
}
const batch = Number(flag('batch', 20));
const examples = Number(flag('examples', model === 'cnn' ? 1000 : 10000));
const epochs = Number(flag('epochs', 3));

const r = JSON.parse(await fedwasm.benchTrain(model, batch, examples, epochs));
if (args.includes('--json')) {
  console.log(JSON.stringify(r));
} else {
  console.log(
    `wasm32 (Node ${process.versions.node}) ${model} batch ${batch}: epoch of ${examples} examples in ` +
      `${(r.epoch_seconds * 1e3).toFixed(1)} ms = ${r.examples_per_second.toFixed(0)} examples/s, ` +
      `${r.gflops.toFixed(2)} GFLOP/s (${(100 * r.fraction_of_gemm).toFixed(0)}% of the ` +
      `${r.gemm_gflops.toFixed(2)} GFLOP/s sgemm rate)`,
  );
}
